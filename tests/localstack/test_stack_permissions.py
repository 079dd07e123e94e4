"""`make run`'s functions run with exactly their roles' permissions: the local
stack in this process, driven over HTTP, with template.yaml's roles and with a
copy that takes one permission away."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from common.adapters.aws import reset_clients
from local import iam, roles
from local.stack import LocalStack, Settings
from local.template import ACCOUNT
from local.tokens import mint
from tests.helpers import without


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LocalStack]:
    saved = dict(os.environ)
    settings = Settings(
        api_port=_free_port(), lambda_port=_free_port(), aws_port=_free_port(), permissions_log=tmp_path / "calls"
    )
    stack = LocalStack(settings)
    try:
        stack.start()
        yield stack
    finally:
        # moto's backends live in this process: empty them for the next stack (unless the test stopped it)
        with contextlib.suppress(requests.RequestException):
            requests.post(f"{settings.aws_endpoint}/moto-api/reset", timeout=10)
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        reset_clients()


def test_the_local_stack_checks_each_function_against_its_role_and_answers_a_denial_as_aws(
    local: LocalStack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = local.settings
    assert local.permissions is not None and iam.ENFORCER.active is local.permissions
    assert set(local.permissions.roles) == set(local.functions)
    token = mint(["acme.com"], secret=s.secret, rules=local.jwt_rules)

    def log_of_acme() -> requests.Response:
        return requests.get(
            f"{s.api_url}/jobs", params={"domain": "acme.com"}, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    # With template.yaml's role, the listing is allowed
    assert log_of_acme().status_code == 200

    # With a role that may not query the ByDomain index, the route answers as it does to any AWS failure
    copy = roles.permissions(
        local.stack,  # type: ignore[arg-type]
        template=without("ListJobsFunction", "dynamodb:Query", "index/ByDomain"),
        recorder=iam.Recorder(tmp_path / "copy.jsonl", "copy"),
    )
    iam.ENFORCER.activate(copy)
    try:
        with caplog.at_level(logging.WARNING, "local.iam"):
            answer = log_of_acme()
    finally:
        iam.ENFORCER.activate(local.permissions)
    assert answer.status_code == 500
    assert answer.json()["error"] == {"code": "internal_error", "message": "something went wrong on our side"}
    assert "arn:" not in answer.text and ACCOUNT not in answer.text
    assert (
        "assumed-role/emailops-ListJobsFunctionRole/ListJobsFunction is not authorized to perform: dynamodb:Query"
        " on resource: arn:aws:dynamodb:us-east-1:123456789012:table/emailops-JobsTable/index/ByDomain"
    ) in caplog.text

    # What the stack's own role checked is written for the permissions report when it stops
    requests.post(f"{s.aws_endpoint}/moto-api/reset", timeout=10)
    local.stop()
    [written] = list((tmp_path / "calls").glob("stack-*.jsonl"))
    rows = [line for line in written.read_text().splitlines() if '"dynamodb:Query"' in line]
    assert rows and all('"allowed": true' in row for row in rows)
