"""``make demo`` and ``make sent`` against a stack on other ports than the
defaults: they honour the same EMAILOPS_*_PORT variables as ``make run``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.stack_process import ROOT, start_stack, stop_stack, wait_ready


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    log = tmp_path_factory.mktemp("demo-stack") / "stack.log"
    process, env = start_stack(log)
    try:
        wait_ready(process, f"http://127.0.0.1:{env['EMAILOPS_API_PORT']}", log)
        yield env
    finally:
        stop_stack(process)


def make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("EMAILOPS_")}
    return subprocess.run(  # noqa: S603 - make of this checkout, fixed targets
        ["make", "-s", target],  # noqa: S607 - make from PATH, as a developer runs it
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_make_demo_and_make_sent_reach_a_stack_on_other_ports(ports: dict[str, str]) -> None:
    assert ports["EMAILOPS_API_PORT"] != "3000"
    demo = make("demo", ports)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert f"The local stack at http://127.0.0.1:{ports['EMAILOPS_API_PORT']}" in demo.stdout
    assert "bounce@simulator.amazonses.com is bounced" in demo.stdout
    # The status events a Privas service receives, and the day's statistics.
    assert "5. Status events for Privas services" in demo.stdout
    assert " bounced    manual" in demo.stdout and " complained manual" in demo.stdout
    assert "6. Today's statistics" in demo.stdout
    sent = make("sent", ports)
    assert sent.returncode == 0, sent.stderr
    for address in ("owner@acme.com", "ann@example.org", "complaint@simulator.amazonses.com"):
        assert address in sent.stdout
    assert f"accepted by the embedded SES at http://127.0.0.1:{ports['EMAILOPS_AWS_PORT']}" in sent.stdout
