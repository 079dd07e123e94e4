"""A keyed job's transaction (marker, job, body) canceled by DynamoDB (issue
#27, item 10): tried again only for the reasons another try may not meet (a
conflicting request, throttling); any other (``ValidationError``, a condition
on the job or body) fails at once, named as what it is.

DynamoDB's cancellation reasons other than a failed condition cannot be made
with moto (it raises a ValidationException for the whole request instead):
``Stubber``, and the calls counted."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from common.adapters import dynamo, idempotency_markers
from common.adapters.idempotency_markers import IdempotencyMarkers
from common.models.errors import StorageError
from common.models.job import Job, JobType, new_job_id

TABLE = "JobsTable"


def keyed_job() -> Job:
    job_id, created_at = new_job_id()
    return Job(
        job_id=job_id,
        created_at=created_at,
        domain="acme.com",
        type=JobType.ESCALATION,
        recipient="owner@acme.com",
        subject="A visitor rang the bell",
        body=job_id,
        idempotency_key="bell-42",
        request_fingerprint="v1:abc",
    )


def canceled(*codes: str) -> dict[str, Any]:
    """What DynamoDB answers for a canceled transaction: one reason per item, in order."""
    return {"CancellationReasons": [{"Code": code} for code in codes]}


class Client:
    """A DynamoDB client (no AWS behind it: every answer is stubbed) and the TransactWriteItems it made."""

    def __init__(self) -> None:
        self.dynamodb: Any = boto3.client("dynamodb", region_name="us-east-1")
        self.calls = 0
        self.dynamodb.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", self._count)

    def _count(self, **_: Any) -> None:
        self.calls += 1


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Client:
    monkeypatch.setattr(idempotency_markers, "backoff", lambda attempt: None)  # no pause between tries
    return Client()


def answers(client: Client, *reasons: dict[str, Any] | None) -> Stubber:
    """The client answers each call in order: a cancellation with those reasons, or success (None)."""
    stubber = Stubber(client.dynamodb)
    for reason in reasons:
        if reason is None:
            stubber.add_response("transact_write_items", {})
        else:
            stubber.add_client_error(
                "transact_write_items",
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons",
                400,
                modeled_fields=reason,
            )
    stubber.activate()
    return stubber


@pytest.mark.parametrize(
    ("reasons", "named"),
    [
        (("None", "ValidationError", "None"), "job: ValidationError"),
        (("None", "None", "ValidationError"), "body: ValidationError"),
        (("None", "ConditionalCheckFailed", "None"), "job: ConditionalCheckFailed"),
        (("None", "ItemCollectionSizeLimitExceeded", "None"), "job: ItemCollectionSizeLimitExceeded"),
        (("ValidationError", "TransactionConflict", "None"), "marker: ValidationError"),
    ],
)
def test_a_cancellation_another_try_cannot_change_is_not_tried_again(
    client: Client, reasons: tuple[str, ...], named: str
) -> None:
    # Given DynamoDB cancels the transaction for a reason that is the same on every try
    answers(client, *[canceled(*reasons)] * dynamo.UNPROCESSED_RETRIES)
    markers = IdempotencyMarkers(client.dynamodb, TABLE)
    # When the keyed job is written
    with pytest.raises(StorageError) as raised:
        markers.put_new_idempotent(keyed_job(), due_at=1, body={"pk": {"S": "b#x"}})
    # Then it was tried once, and the error says what DynamoDB refused and where, not "conflicting"
    assert client.calls == 1
    assert str(raised.value) == f"TransactWriteItems refused: {named}"
    assert "conflict" not in str(raised.value)


@pytest.mark.parametrize("code", ["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"])
def test_a_conflict_or_throttling_is_tried_again(client: Client, code: str) -> None:
    stubber = answers(client, canceled("None", code), None)
    job = keyed_job()
    assert IdempotencyMarkers(client.dynamodb, TABLE).put_new_idempotent(job, due_at=1) == job.job_id
    assert client.calls == 2
    stubber.assert_no_pending_responses()


def test_a_conflict_that_lasts_is_reported_as_one(client: Client) -> None:
    answers(client, *[canceled("TransactionConflict", "None")] * dynamo.UNPROCESSED_RETRIES)
    with pytest.raises(StorageError, match="kept conflicting"):
        IdempotencyMarkers(client.dynamodb, TABLE).put_new_idempotent(keyed_job(), due_at=1)
    assert client.calls == dynamo.UNPROCESSED_RETRIES
