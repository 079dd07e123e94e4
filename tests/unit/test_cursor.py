"""Page cursors: opaque, signed, bound to one query; anything else is InvalidCursor."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.api_models import Caller, InvalidCursor, ListJobsQuery
from common.jobs import IndexPartition
from common.listing import CursorCodec, _fingerprint, partitions_for
from common.models import JobStatus, JobType

SECRET = "a-test-secret-of-enough-length"
ULID_A = "01JGQ6Z1T8W3Y5K7M9P2R4S6V8"
ULID_B = "01JGQ6Z1T8W3Y5K7M9P2R4S6V9"


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec(SECRET)


def test_a_cursor_round_trips(codec: CursorCodec) -> None:
    cursor = codec.encode("f1", [ULID_A, None, ""])
    assert codec.decode(cursor, fingerprint="f1", partitions=3) == [ULID_A, None, ""]


def test_a_cursor_is_url_safe_and_opaque(codec: CursorCodec) -> None:
    cursor = codec.encode("f1", [ULID_A, ULID_B])
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


@pytest.mark.parametrize(
    ("fingerprint", "partitions"),
    [("f2", 2), ("f1", 1), ("f1", 3)],
)
def test_a_cursor_for_another_query_is_refused(codec: CursorCodec, fingerprint: str, partitions: int) -> None:
    cursor = codec.encode("f1", [ULID_A, ULID_B])
    with pytest.raises(InvalidCursor):
        codec.decode(cursor, fingerprint=fingerprint, partitions=partitions)


def test_a_cursor_signed_with_another_secret_is_refused(codec: CursorCodec) -> None:
    cursor = CursorCodec("another-secret-of-enough-length").encode("f1", [ULID_A])
    with pytest.raises(InvalidCursor):
        codec.decode(cursor, fingerprint="f1", partitions=1)


def _resign(payload: object) -> str:
    """A payload signed with the right secret: proves the checks after the signature."""
    raw = json.dumps(payload).encode()
    signature = hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()
    return (
        base64.urlsafe_b64encode(raw).decode().rstrip("=")
        + "."
        + base64.urlsafe_b64encode(signature).decode().rstrip("=")
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"v": 2, "f": "f1", "p": [ULID_A]},
        {"v": 1, "f": "f1", "p": ["not-a-job-id"]},
        {"v": 1, "f": "f1", "p": [None]},  # nothing left: no cursor is ever made for that
        {"v": 1, "f": "f1", "p": [ULID_A], "extra": 1},
        {"v": 1, "f": "f1"},
        [1, 2, 3],
    ],
)
def test_signed_but_malformed_payloads_are_refused(codec: CursorCodec, payload) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode(_resign(payload), fingerprint="f1", partitions=1)


@settings(deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_valid_cursor_or_invalid_cursor_never_a_crash(text: str) -> None:
    codec = CursorCodec(SECRET)
    try:
        codec.decode(text, fingerprint="f1", partitions=1)
    except InvalidCursor:
        return
    raise AssertionError("random text was accepted as a cursor")


@settings(deadline=None)
@given(st.integers(min_value=0))
def test_altering_any_character_of_a_cursor_is_detected(position: int) -> None:
    codec = CursorCodec(SECRET)
    cursor = codec.encode("f1", [ULID_A, ""])
    index = position % len(cursor)
    replacement = "A" if cursor[index] != "A" else "B"
    altered = cursor[:index] + replacement + cursor[index + 1 :]
    try:
        positions = codec.decode(altered, fingerprint="f1", partitions=2)
    except InvalidCursor:
        return
    # Base64 padding bits may change without changing the bytes: same cursor then.
    assert positions == [ULID_A, ""]


# ------------------------------------------------------------------ which partitions
def test_partitions_follow_the_caller_and_the_filters() -> None:
    two = Caller(subject="s", domains=frozenset({"beta.io", "acme.com"}))
    everyone = Caller(subject="s", every_domain=True)
    assert partitions_for(ListJobsQuery(), two) == [
        IndexPartition("ByDomain", "domain", "acme.com"),
        IndexPartition("ByDomain", "domain", "beta.io"),
    ]
    assert partitions_for(ListJobsQuery(status=JobStatus.FAILED, type=JobType.MANUAL), two) == [
        IndexPartition("ByDomainStatusType", "domain_status_type", "acme.com#failed#manual"),
        IndexPartition("ByDomainStatusType", "domain_status_type", "beta.io#failed#manual"),
    ]
    assert partitions_for(ListJobsQuery(domain="beta.io", type=JobType.ESCALATION), two) == [
        IndexPartition("ByDomainType", "domain_type", "beta.io#escalation"),
    ]
    assert partitions_for(ListJobsQuery(), everyone) == [IndexPartition("ByScope", "scope", "all")]
    assert partitions_for(ListJobsQuery(status=JobStatus.SENT), everyone) == [
        IndexPartition("ByStatus", "status", "sent")
    ]
    assert partitions_for(ListJobsQuery(type=JobType.INVITATION), everyone) == [
        IndexPartition("ByType", "type", "invitation")
    ]
    assert partitions_for(ListJobsQuery(status=JobStatus.QUEUED, type=JobType.MANUAL), everyone) == [
        IndexPartition("ByStatusType", "status_type", "queued#manual")
    ]


def test_fingerprints_differ_between_callers_and_filters() -> None:
    a = Caller(subject="s", domains=frozenset({"acme.com"}))
    b = Caller(subject="s", domains=frozenset({"beta.io"}))
    ab = Caller(subject="s", domains=frozenset({"acme.com", "beta.io"}))
    everyone = Caller(subject="s", every_domain=True)
    queries = [ListJobsQuery(), ListJobsQuery(status=JobStatus.FAILED), ListJobsQuery(type=JobType.MANUAL)]
    prints = {_fingerprint(partitions_for(q, c)) for q in queries for c in (a, b, ab, everyone)}
    assert len(prints) == 12
