"""The local stack as a user runs it: ``python -m local run`` in a process of
its own, on free ports, driven only from outside (HTTP, boto3's Lambda client,
the embedded AWS's moto API)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import requests
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 60
STOP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float, interval: float = 0.25, message: str = "condition"):
    """``check()``'s first truthy result within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


@dataclass
class RunningStack:
    process: subprocess.Popen
    log: Path
    api: str
    lambda_endpoint: str
    aws: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def lambda_client(self):
        return boto3.client(
            "lambda",
            endpoint_url=self.lambda_endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
        )


def start_stack(log: Path, **env: str) -> tuple[subprocess.Popen, dict[str, str]]:
    ports = {
        "EMAILOPS_API_PORT": str(free_port()),
        "EMAILOPS_LAMBDA_PORT": str(free_port()),
        "EMAILOPS_AWS_PORT": str(free_port()),
    }
    environment = {**os.environ, **ports, "PYTHONUNBUFFERED": "1", **env}
    handle = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "run"],
        cwd=ROOT,
        env=environment,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    handle.close()
    return process, {**ports, **env}


def stop_stack(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            return process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            raise
    return process.returncode


def wait_ready(process: subprocess.Popen, api: str, log: Path) -> None:
    def ready():
        if process.poll() is not None:
            raise AssertionError(f"the local stack exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            return requests.get(f"{api}/jobs", timeout=5).status_code == 401
        except requests.RequestException:  # not listening yet, or bound and still starting
            return False

    wait_until(ready, START_SECONDS, message="the local stack to answer")
