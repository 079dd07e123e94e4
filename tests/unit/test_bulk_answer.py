"""What a bulk send derives and answers, without AWS: its job ids, and the
bound on the 202 that Powertools keeps for replays in one DynamoDB item."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ulid import ULID

from common.logic.bulk import bulk_job_id, bulk_key_hash, new_bulk_record
from common.models.api import MAX_RECIPIENTS, Caller, UnfinishedBulkSend
from common.models.bulk_send import (
    MAX_REJECTED_CHARS,
    MAX_REJECTED_LISTED,
    BulkSendRequest,
    BulkSendResponse,
    RejectedInput,
)

ITEM_LIMIT_BYTES = 400 * 1024
# What Powertools' item holds besides the answer: key, status, expiry, hash.
POWERTOOLS_OVERHEAD_BYTES = 1024

NOW = datetime(2026, 12, 1, 22, 0, 0, 123_000, tzinfo=UTC)


def _request(**fields: object) -> BulkSendRequest:
    return BulkSendRequest.model_validate(
        {"domain": "acme.com", "subject": "Hours", "body": "Open 9-17.", "extra_recipients": "a@example.org"} | fields
    )


def test_a_recipient_gets_the_same_job_id_in_every_attempt_and_none_other_does() -> None:
    record = new_bulk_record("0" * 64, _request(), NOW)
    ann = bulk_job_id(record, "Ann@Example.org")
    assert bulk_job_id(record, "ann@example.org") == ann  # duplicates are case-insensitive: so are ids
    assert bulk_job_id(record, "bob@example.org") != ann
    # Another bulk send (another secret) gives the same recipient another id
    assert bulk_job_id(new_bulk_record("0" * 64, _request(), NOW), "ann@example.org") != ann


def test_job_ids_are_ulids_with_the_bulk_ids_time() -> None:
    record = new_bulk_record("0" * 64, _request(), NOW)
    job_id = ULID.from_str(bulk_job_id(record, "ann@example.org"))
    assert job_id.datetime == ULID.from_str(record.bulk_id).datetime == NOW


def test_the_key_is_per_caller_and_the_fingerprint_per_request() -> None:
    one, other = Caller(subject="admin-1"), Caller(subject="admin-2")
    assert bulk_key_hash(one, "k") != bulk_key_hash(other, "k")
    assert bulk_key_hash(one, "k") != bulk_key_hash(one, "k2")
    same = new_bulk_record("0" * 64, _request(), NOW).request_hash
    assert new_bulk_record("0" * 64, _request(), NOW).request_hash == same
    assert new_bulk_record("0" * 64, _request(subject="Other"), NOW).request_hash != same


def test_the_largest_possible_answer_fits_the_item_that_keeps_it() -> None:
    # Given the most refusals, each as long as any input or reason can be, in
    # characters that JSON escapes as a surrogate pair (12 bytes each)
    emoji = "\N{GRINNING FACE}" * 5_000
    answer = BulkSendResponse(
        bulk_id=str(ULID()),
        queued=MAX_RECIPIENTS,
        job_ids=[str(ULID()) for _ in range(MAX_RECIPIENTS)],
        rejected=[RejectedInput(input=emoji, reason=emoji) for _ in range(MAX_REJECTED_LISTED * 3)],
        rejected_total=MAX_REJECTED_LISTED * 3,
        duplicates=10**9,
    )
    # Then the answer lists 100, each cut to 100 characters
    assert len(answer.rejected) == MAX_REJECTED_LISTED
    assert all(len(r.input) == len(r.reason) == MAX_REJECTED_CHARS for r in answer.rejected)
    assert answer.rejected[0].input.endswith("\N{HORIZONTAL ELLIPSIS}")
    # And its JSON, as Powertools stores it (ASCII-escaped), fits a DynamoDB item
    stored = json.dumps(answer.model_dump(), sort_keys=True)
    assert len(stored.encode()) + POWERTOOLS_OVERHEAD_BYTES < ITEM_LIMIT_BYTES


def test_an_answer_kept_before_rejected_total_existed_replays() -> None:
    kept = {"bulk_id": "b", "queued": 1, "job_ids": ["j"], "rejected": [{"input": "x", "reason": "y"}], "duplicates": 0}
    assert BulkSendResponse.model_validate(kept).rejected_total == 1


def test_the_500_says_how_many_of_how_many_and_how_to_finish() -> None:
    keyed = str(UnfinishedBulkSend(bulk_id="01JGQ7A2B3C4D5E6F7G8H9J0K1", queued=50, total=60, keyed=True))
    assert "50 of the 60 emails of bulk send 01JGQ7A2B3C4D5E6F7G8H9J0K1 are queued" in keyed
    assert "same Idempotency-Key" in keyed and "no recipient is queued twice" in keyed
    plain = str(UnfinishedBulkSend(bulk_id="01JGQ7A2B3C4D5E6F7G8H9J0K1", queued=50, total=60, keyed=False))
    assert "would queue all 60 again" in plain
    unknown = str(UnfinishedBulkSend(bulk_id=None, queued=None, total=60, keyed=True))
    assert "how many of the 60" in unknown
