"""Each function runs with exactly its role's permissions (docs/local-stack.md,
"Permissions"): the real handlers, on moto, against template.yaml's roles and
against copies of it with one permission taken away."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from common.adapters import aws
from common.models.job import JobStatus, JobType
from local import iam
from local.template import ACCOUNT, Stack
from tests.conftest import FakeLambdaContext
from tests.helpers import enforced, load_function, with_condition, without
from tests.integration import api_support
from tests.integration.api_support import Admin, make_job, store_jobs
from tests.integration.suppression_support import deliver, put, receive_all
from tests.integration.test_bodies import prose
from tests.integration.test_job_actions import Actions, bulk_of

REGION = "us-east-1"


# ------------------------------------------------------------ the cases
@dataclass(frozen=True)
class Case:
    """A call a function makes, the copy of the template without the permission
    for it, and what the function answers in each case."""

    name: str
    function: str
    template: Callable[[], dict[str, Any]]
    act: Callable[[Stack], Any]  # returns what to judge
    action: str
    resource: str  # the denied resource ends so
    allowed: Callable[[Any], bool]
    denied: Callable[[Any], bool]


def _admin() -> Admin:
    return Admin(FakeLambdaContext())


def _list_domain(stack: Stack) -> api_support.Reply:
    store_jobs([make_job()])
    return _admin().list_jobs(domain="acme.com")


def _list_pages(stack: Stack) -> api_support.Reply:
    store_jobs([make_job(), make_job()])
    return _admin().list_jobs(domain="acme.com", limit=1)  # a next_cursor, signed with the cursor key


def _enqueue(stack: Stack) -> list[str]:
    request = {"type": "escalation", "domain": "acme.com", "to": "owner@acme.com", "subject": "Bell", "body_text": "Hi"}
    load_function("enqueue").handler(request, FakeLambdaContext())
    return [json.loads(m["Body"])["job_id"] for m in receive_all(stack, "PriorityQueue")]


def _large_body(stack: Stack) -> api_support.Reply:
    text = prose(20_000)  # over 4 KB compressed: to S3
    request = {"type": "ai_followup", "domain": "acme.com", "to": "v@example.org", "subject": "S", "body_text": text}
    [job_id] = load_function("enqueue").handler(request, FakeLambdaContext())["job_ids"]
    objects = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=stack.names["BodiesBucket"])
    assert objects.get("KeyCount", 0) >= 1  # the body is in S3
    return _admin().get(job_id)


def _send(stack: Stack) -> Any:
    request = {"type": "escalation", "domain": "acme.com", "to": "owner@acme.com", "subject": "Bell", "body_text": "Hi"}
    [job_id] = load_function("enqueue").handler(request, FakeLambdaContext())["job_ids"]
    load_function("send_worker").handler(deliver(stack, "PriorityQueue"), FakeLambdaContext())
    return api_support.jobs_table().get(job_id)


def _suppress(stack: Stack) -> Any:
    return put("acme.com", "someone@example.org")


def _ok(reply: Any) -> bool:
    return bool(reply.status == 200)


def _internal_error(reply: Any) -> bool:
    return bool(reply.status == 500 and reply.code == "internal_error")


CASES = [
    Case(
        "a Query on one index",
        "ListJobsFunction",
        lambda: without("ListJobsFunction", "dynamodb:Query", "index/ByDomain"),
        _list_domain,
        "dynamodb:Query",
        "table/emailops-JobsTable/index/ByDomain",
        lambda reply: _ok(reply) and len(reply.body["items"]) == 1,
        _internal_error,
    ),
    Case(
        "SendMessage on one queue",
        "EnqueueFunction",
        lambda: without("EnqueueFunction", "sqs:SendMessage", '"PriorityQueue"'),
        _enqueue,
        "sqs:SendMessage",
        ":emailops-PriorityQueue",
        lambda queued: len(queued) == 1,
        lambda queued: queued == [],  # stored, not queued: the sweeper queues it later
    ),
    Case(
        "s3:GetObject on the bodies",
        "ListJobsFunction",
        lambda: without("ListJobsFunction", "s3:GetObject"),
        _large_body,
        "s3:GetObject",
        "/acme.com/",
        lambda reply: _ok(reply) and reply.body["body_text"] == prose(20_000),
        _internal_error,
    ),
    Case(
        "GetSecretValue on the cursor key",
        "ListJobsFunction",
        lambda: without("ListJobsFunction", "secretsmanager:GetSecretValue", "CursorSecret"),
        _list_pages,
        "secretsmanager:GetSecretValue",
        ":secret:emailops-CursorSecret",
        lambda reply: _ok(reply) and reply.body["next_cursor"],
        _internal_error,
    ),
    Case(
        "ses:SendEmail from another address than its condition names",
        "SendWorkerFunction",
        lambda: with_condition(
            "SendWorkerFunction", "ses:SendEmail", "StringEquals", "ses:FromAddress", ["someone-else@example.com"]
        ),
        _send,
        "ses:SendEmail",
        ":identity/example.com",
        lambda job: job.status is JobStatus.SENT,
        lambda job: job.status is JobStatus.FAILED and job.error.startswith("AccessDeniedException: "),
    ),
    Case(
        "a write outside the dynamodb:LeadingKeys its condition allows",
        "SuppressionsFunction",
        lambda: with_condition(
            "SuppressionsFunction", "dynamodb:PutItem", "ForAllValues:StringLike", "dynamodb:LeadingKeys", ["nope#*"]
        ),
        _suppress,
        "dynamodb:",
        "table/emailops-JobsTable",
        _ok,
        _internal_error,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_call_a_permission_allowed_fails_without_it(
    stack: Stack, case: Case, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the template.yaml's role: the call is allowed
    assert case.allowed(case.act(stack))

    # When the same runs with a copy of template.yaml that takes the permission away
    recorder = iam.Recorder(tmp_path / "calls.jsonl", "copy")
    aws.reset_clients()  # a fresh read of the secrets, as a new execution environment would
    with enforced(stack, case.template(), recorder=recorder), caplog.at_level(logging.WARNING, "local.iam"):
        outcome = case.act(stack)

    # Then AWS's denial reached the handler, which answers as it does to any failure of AWS
    assert case.denied(outcome)
    refused = [c for c in recorder.denied if c.function == case.function]
    assert refused, f"{case.function} was denied nothing"
    assert refused[0].action.startswith(case.action) and case.resource in refused[0].resource
    # The log has IAM's words; an API answer has none of them (no ARN, no account)
    said = f"is not authorized to perform: {refused[0].action} on resource: {refused[0].resource}"
    assert said.lower() in caplog.text.lower()  # SQS writes the action in lower case
    if hasattr(outcome, "body"):
        assert "arn:" not in json.dumps(outcome.body) and ACCOUNT not in json.dumps(outcome.body)


# ------------------------------------------- the two denials AWS answered
EXCEPTIONAL = sorted(s for s in JobStatus if s.exceptional)


@pytest.mark.parametrize("status", EXCEPTIONAL)
def test_a_recipients_jobs_in_an_exceptional_status_are_listed_within_the_role(stack: Stack, status: JobStatus) -> None:
    """GET /jobs?recipient=…&status=bounced queries ByRecipientStatus, which
    ListJobsFunction's Query permission did not list: a 500 in AWS."""
    mine = make_job(status=status, recipient="Visitor@Example.org")
    store_jobs([mine, make_job(status=JobStatus.SENT, recipient="visitor@example.org")])
    reply = _admin().list_jobs(domain="acme.com", recipient="visitor@example.org", status=status.value)
    assert reply.status == 200, reply.body
    assert [item["job_id"] for item in reply.body["items"]] == [mine.job_id]


def test_a_retry_with_an_idempotency_key_is_within_the_role(stack: Stack) -> None:
    """A keyed retry (the page always sends a key) reads with BatchGetItem and
    writes a TransactWriteItems of Puts, which JobActionsFunction could do
    neither of: AccessDenied in AWS."""
    failed = make_job(status=JobStatus.FAILED, job_type=JobType.ESCALATION)
    store_jobs([failed])
    admin = Actions(FakeLambdaContext())
    first = admin.retry(failed.job_id, key="retry-once")
    assert first.status == 202, first.body
    again = admin.retry(failed.job_id, key="retry-once")
    assert (again.status, again.body["job_id"]) == (202, first.body["job_id"])
    queued = [json.loads(m["Body"])["job_id"] for m in receive_all(stack, "PriorityQueue")]
    assert queued == [first.body["job_id"]]


# ------------------------------------------- work handed to a thread pool
def test_calls_made_in_a_functions_thread_pool_are_checked_as_that_functions(stack: Stack, tmp_path: Path) -> None:
    """A bulk cancel marks the bulk, then cancels its jobs from a thread pool
    (common/logic/actions.py). With a role that may update the bulk's item
    (``k#...``) but no job, the pool's updates must be denied as
    JobActionsFunction's: run without its context, they would not be checked."""
    admin = Actions(FakeLambdaContext())
    answer = bulk_of(admin, 3)
    template = without("JobActionsFunction", "dynamodb:UpdateItem")
    template["Resources"]["JobActionsFunction"]["Properties"]["Policies"][0]["Statement"].append(
        {
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem"],
            "Resource": {"Fn::GetAtt": ["JobsTable", "Arn"]},
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["k#*"]}},
        }
    )
    recorder = iam.Recorder(tmp_path / "calls.jsonl", "copy")
    with enforced(stack, template, recorder=recorder):
        reply = admin.cancel_bulk(answer["bulk_id"])
    assert reply.status >= 500
    updates = [c for c in recorder.denied if c.action == "dynamodb:UpdateItem"]
    assert updates and {c.function for c in updates} == {"JobActionsFunction"}
    statuses = {api_support.jobs_table().get(job_id).status for job_id in answer["job_ids"]}  # type: ignore[union-attr]
    assert statuses == {JobStatus.QUEUED}
