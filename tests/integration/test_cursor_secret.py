"""The cursor key: read from (moto's) Secrets Manager at run time, once per
execution environment, never from the function's environment."""

from __future__ import annotations

import json
import os
import traceback
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from common.adapters import aws
from common.models.settings import reset_settings
from local.template import Stack
from tests.helpers import record_secret_reads
from tests.integration.api_support import Admin, make_job, page_ids, store_jobs


@pytest.fixture
def admin(stack: Stack, lambda_context: Any) -> Admin:
    return Admin(lambda_context, domains="acme.com")


@pytest.fixture
def secret_reads() -> list[str]:
    return record_secret_reads()


def cursor_secret_value(stack: Stack) -> str:
    client = boto3.client("secretsmanager", region_name=stack.region)
    return str(client.get_secret_value(SecretId=stack.names["CursorSecret"])["SecretString"])


def test_pages_are_signed_with_the_secret_read_once_per_execution_environment(
    stack: Stack, admin: Admin, secret_reads: list[str]
) -> None:
    # Given five jobs, and a function environment that names the secret but holds no value of it
    jobs = [make_job() for _ in range(5)]
    store_jobs(jobs)
    value = cursor_secret_value(stack)
    assert os.environ["CURSOR_SECRET_ID"] == stack.names["CursorSecret"]
    assert value not in os.environ.values()
    assert "CURSOR_SECRET" not in os.environ
    # When the admin reads the log one job a page, then once more
    replies = admin.pages(limit=1)
    again = admin.pages(limit=2)
    # Then every page came, each cursor accepted
    assert sorted(page_ids(replies)) == sorted(j.job_id for j in jobs)
    assert page_ids(again) == page_ids(replies)
    assert len(replies) + len(again) == 5 + 3
    # And the secret was read once for all those requests
    assert secret_reads == [stack.names["CursorSecret"]]
    # And a cursor signed with another key is refused
    tampered = replies[0].body["next_cursor"].split(".")[0] + ".AAAA"
    assert admin.list_jobs(limit=1, cursor=tampered).code == "invalid_cursor"


def test_the_secret_is_read_again_once_its_max_age_has_passed(
    stack: Stack, admin: Admin, secret_reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a max age of 0: nothing is kept
    monkeypatch.setenv("SECRETS_MAX_AGE_SECONDS", "0")
    reset_settings()
    store_jobs([make_job(), make_job()])
    first = admin.list_jobs(limit=1)
    # When the key is rotated between two pages
    client = boto3.client("secretsmanager", region_name=stack.region)
    client.put_secret_value(SecretId=stack.names["CursorSecret"], SecretString="a-rotated-key-" + "x" * 40)
    second = admin.list_jobs(limit=1, cursor=first.body["next_cursor"])
    # Then the new key is used: the old page's cursor is refused, a fresh listing works
    assert second.code == "invalid_cursor"
    fresh = admin.pages(limit=1)
    assert len(page_ids(fresh)) == 2
    assert len(secret_reads) == 2 + len(fresh)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record as a handler would write it: its keys and its traceback, causes included."""
    return "\n".join(
        json.dumps(record.__dict__, default=str)
        + ("".join(traceback.format_exception(*record.exc_info)) if record.exc_info else "")
        for record in caplog.records
    )


def test_a_secret_the_role_may_not_read_is_an_internal_error_that_names_no_arn(
    stack: Stack, admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the function's role may not read the secret (moto has no IAM: AWS's answer, stubbed)
    job = make_job()
    store_jobs([job])
    arn = stack.names["CursorSecret"]
    stubber = Stubber(aws.secretsmanager())
    stubber.add_client_error(
        "get_secret_value",
        service_error_code="AccessDeniedException",
        service_message=f"User: arn:aws:sts::{stack.account}:assumed-role/r/f is not authorized to perform: "
        f"secretsmanager:GetSecretValue on resource: {arn}",
        http_status_code=400,
    )
    stubber.activate()
    # When the admin reads the log
    reply = admin.list_jobs()
    # Then the answer is the contract's 500, and neither it nor the log quotes AWS's message
    assert (reply.status, reply.code) == (500, "internal_error")
    log = logged(caplog)
    assert "SecretUnavailable" in log
    assert "AccessDeniedException" in log  # what went wrong, in AWS's words
    for text in (json.dumps(reply.body), log):
        assert arn not in text
        assert "assumed-role" not in text
    # And one job's detail, which needs no cursor, is still served
    assert admin.get(job.job_id).status == 200
