"""Shared fixtures: a moto AWS built from template.yaml, and a Lambda context."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

# Powertools reads these when common.adapters.observability is first imported, which
# happens while tests are collected, before any fixture runs: set them first.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "EmailOperationsTest")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "email-operations")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")

import boto3
import pytest
from moto import mock_aws

from common.adapters.aws import reset_clients
from common.models.settings import reset_settings
from local import iam, limits
from local.template import Stack, create_stack
from tests.helpers import PERMISSIONS_LOG, RECORDER, enforced

# Calls recorded by an earlier run stay when this is set (make test's second pytest run).
KEEP_PERMISSIONS_LOG = "EMAILOPS_PERMISSIONS_KEEP"


def pytest_sessionstart(session: pytest.Session) -> None:
    """The permissions report is of this run: the controller starts it empty."""
    if not hasattr(session.config, "workerinput") and not os.environ.get(KEEP_PERMISSIONS_LOG):
        shutil.rmtree(PERMISSIONS_LOG, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    RECORDER.flush()


@pytest.fixture(autouse=True)
def _within_their_roles() -> Iterator[None]:
    """A test fails when a handler it ran made an AWS call its role does not
    allow, even if the handler turned the denial into an answer the test
    accepted, or made a call with no roles loaded (no stack fixture)."""
    denied, unconfigured = len(RECORDER.denied), len(iam.ENFORCER.unconfigured)
    yield
    refused = [
        f"{c.function}: {c.action} on {c.resource}" for c in RECORDER.denied[denied:]
    ] + iam.ENFORCER.unconfigured[unconfigured:]
    if refused:
        pytest.fail(
            "AWS would refuse calls this test's handlers made (template.yaml's roles do not allow them):\n  "
            + "\n  ".join(dict.fromkeys(refused)),
            pytrace=False,
        )


# AWS's limits that moto does not enforce by itself, enforced in every test
# (docs/local-stack.md, "AWS's limits, enforced here").
limits.apply()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches real AWS, and none sees another's settings or clients."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    reset_clients()
    reset_settings()


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A moto AWS holding the template's tables, queues and SES set-up, with every
    function's environment (as the template sets it) exported, and each function's
    role loaded: its handler's calls are checked against it."""
    with mock_aws():
        created = create_stack(boto3.Session(region_name="us-east-1"))
        for logical in created.functions():
            for key, value in created.function_environment(logical).items():
                monkeypatch.setenv(key, value)
        reset_clients()
        reset_settings()
        with enforced(created):
            yield created
        reset_clients()
        reset_settings()


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "test"
    function_version: str = "$LATEST"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()
