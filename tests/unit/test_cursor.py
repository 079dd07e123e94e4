"""Page cursors (version 2): opaque, signed, bound to one query; anything else is
InvalidCursor. And the plan of docs/storage.md, section 8: which partitions serve
which query."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.adapters import index_keys as keys
from common.logic.listing import CursorCodec, Partition, Position, _fingerprint, plan
from common.models.api import Caller
from common.models.errors import InvalidCursor
from common.models.job import JobStatus, JobType
from common.models.listing import ListJobsQuery

SECRET = "a-test-secret-of-enough-length"
ULID_A = "01JGQ6Z1T8W3Y5K7M9P2R4S6V8"
ULID_B = "01JGQ6Z1T8W3Y5K7M9P2R4S6V9"


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec(SECRET)


def test_a_cursor_round_trips(codec: CursorCodec) -> None:
    cursor = codec.encode("f1", Position(ULID_A, 0b101))
    assert codec.decode(cursor, fingerprint="f1") == Position(ULID_A, 0b101)


def test_a_cursor_is_short_whatever_the_partitions(codec: CursorCodec) -> None:
    assert len(codec.encode("f" * 32, Position(ULID_A, 2**84 - 1))) < 250


def test_a_cursor_is_url_safe_and_opaque(codec: CursorCodec) -> None:
    cursor = codec.encode("f1", Position(ULID_B))
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


@pytest.mark.parametrize("fingerprint", ["f2", "f", "f1 "])
def test_a_cursor_for_another_query_is_refused(codec: CursorCodec, fingerprint: str) -> None:
    cursor = codec.encode("f1", Position(ULID_A))
    with pytest.raises(InvalidCursor):
        codec.decode(cursor, fingerprint=fingerprint)


def test_a_cursor_signed_with_another_secret_is_refused(codec: CursorCodec) -> None:
    cursor = CursorCodec("another-secret-of-enough-length").encode("f1", Position(ULID_A))
    with pytest.raises(InvalidCursor):
        codec.decode(cursor, fingerprint="f1")


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
        {"v": 1, "f": "f1", "p": [ULID_A]},  # version 1: refused
        {"v": 2, "f": "f1", "p": [ULID_A]},
        {"v": 2, "f": "f1", "l": "not-a-job-id", "x": 0},
        {"v": 2, "f": "f1", "l": ULID_A, "x": -1},
        {"v": 2, "f": "f1", "l": ULID_A, "x": 0, "extra": 1},
        {"v": 3, "f": "f1", "l": ULID_A, "x": 0},
        {"v": 2, "f": "f1"},
        [1, 2, 3],
    ],
)
def test_signed_but_malformed_payloads_are_refused(codec: CursorCodec, payload) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode(_resign(payload), fingerprint="f1")


@settings(deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_valid_cursor_or_invalid_cursor_never_a_crash(text: str) -> None:
    codec = CursorCodec(SECRET)
    try:
        codec.decode(text, fingerprint="f1")
    except InvalidCursor:
        return
    raise AssertionError("random text was accepted as a cursor")


@settings(deadline=None)
@given(st.integers(min_value=0))
def test_altering_any_character_of_a_cursor_is_detected(position: int) -> None:
    codec = CursorCodec(SECRET)
    cursor = codec.encode("f1", Position(ULID_A, 3))
    index = position % len(cursor)
    replacement = "A" if cursor[index] != "A" else "B"
    altered = cursor[:index] + replacement + cursor[index + 1 :]
    try:
        position = codec.decode(altered, fingerprint="f1")
    except InvalidCursor:
        return
    # Base64 padding bits may change without changing the bytes: same cursor then.
    assert position == Position(ULID_A, 3)


# ------------------------------------------------------------------ which partitions
class _NoTable:
    """Plans without ``bulk_id`` read nothing."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the plan read the table ({name})")


def partitions(query: ListJobsQuery, caller: Caller) -> list[Partition]:
    return plan(query, caller, bulks=_NoTable()).partitions  # type: ignore[arg-type]


TWO = Caller(subject="s", domains=frozenset({"beta.io", "acme.com"}))
EVERYONE = Caller(subject="s", every_domain=True)


def test_no_filter_reads_the_domains_shards_and_bulk_sends_or_the_platforms() -> None:
    # ByDomain holds a domain's jobs of no bulk send; its bulk sends' jobs are
    # ByDomainType's <domain>#bulk# partitions
    assert partitions(ListJobsQuery(), TWO) == [
        *(Partition("ByDomain", f"{domain}#{n}") for domain in ("acme.com", "beta.io") for n in range(4)),
        *(Partition("ByDomainType", f"{domain}#bulk#{n}") for domain in ("acme.com", "beta.io") for n in range(4)),
    ]
    assert partitions(ListJobsQuery(), EVERYONE) == [Partition("ByPlatform", f"all#{n}") for n in range(12)]
    # delivered: the same partitions, the status checked on the job
    assert partitions(ListJobsQuery(status=JobStatus.DELIVERED), TWO) == partitions(ListJobsQuery(), TWO)
    assert partitions(ListJobsQuery(status=JobStatus.DELIVERED), EVERYONE) == partitions(ListJobsQuery(), EVERYONE)


def test_type_reads_the_domain_type_shards() -> None:
    assert partitions(ListJobsQuery(domain="beta.io", type=JobType.ESCALATION), TWO) == [
        Partition("ByDomainType", f"beta.io#escalation#{n}") for n in range(4)
    ]
    # manual: and the domain's bulk sends
    assert partitions(ListJobsQuery(domain="beta.io", type=JobType.MANUAL), TWO) == [
        *(Partition("ByDomainType", f"beta.io#manual#{n}") for n in range(4)),
        *(Partition("ByDomainType", f"beta.io#bulk#{n}") for n in range(4)),
    ]
    assert partitions(ListJobsQuery(type=JobType.INVITATION), EVERYONE) == [
        Partition("ByScope", f"invitation#{n}") for n in range(12)
    ]


def test_an_exceptional_status_reads_the_exact_indexes() -> None:
    assert partitions(ListJobsQuery(status=JobStatus.FAILED, type=JobType.MANUAL), TWO) == [
        Partition("ByDomainStatus", "acme.com#failed#manual#0"),
        Partition("ByDomainStatus", "beta.io#failed#manual#0"),
    ]
    assert len(partitions(ListJobsQuery(status=JobStatus.BOUNCED), TWO)) == 2 * 5
    # retrying: three partitions per domain and type (a retry storm's writes spread)
    assert len(partitions(ListJobsQuery(status=JobStatus.RETRYING, domain="acme.com"), TWO)) == 5 * 3
    assert partitions(ListJobsQuery(status=JobStatus.FAILED, type=JobType.MANUAL), EVERYONE) == [
        Partition("ByScopeStatus", f"failed#manual#{n}") for n in range(3)
    ]
    assert len(partitions(ListJobsQuery(status=JobStatus.CANCELED), EVERYONE)) == 15
    assert all(p.projected for p in partitions(ListJobsQuery(status=JobStatus.CANCELED), EVERYONE))


def test_in_flight_statuses_read_the_in_flight_shards() -> None:
    queued = partitions(ListJobsQuery(domain="acme.com", status=JobStatus.QUEUED), TWO)
    assert queued == [Partition("InFlight", k, prefix="acme.com#") for k in keys.domain_inflight_keys("acme.com")]
    # A * caller: InFlight's sort keys start with the domain, so no shard is in time
    # order across domains: the immutable indexes, the status checked on the job
    everyone = partitions(ListJobsQuery(status=JobStatus.SENDING, type=JobType.MANUAL), EVERYONE)
    assert everyone == [Partition("ByScope", f"manual#{n}") for n in range(12)]
    assert partitions(ListJobsQuery(status=JobStatus.SENT), EVERYONE) == [
        Partition("ByPlatform", f"all#{n}") for n in range(12)
    ]
    # sent: and the parked sent jobs of the exact indexes
    sent = partitions(ListJobsQuery(domain="acme.com", status=JobStatus.SENT, type=JobType.MANUAL), TWO)
    assert sent == [*queued, Partition("ByDomainStatus", "acme.com#sent#manual#0")]


def test_recipient_reads_one_range_per_domain_and_type_in_lower_case() -> None:
    query = ListJobsQuery(recipient="Owner@Acme.COM", type=JobType.MANUAL)
    assert partitions(query, TWO) == [
        Partition("ByRecipient", "owner@acme.com", prefix=f"{domain}#manual#") for domain in ("acme.com", "beta.io")
    ]
    every_type = partitions(ListJobsQuery(recipient="owner@acme.com", domain="beta.io"), TWO)
    assert every_type == [Partition("ByRecipient", "owner@acme.com", prefix=f"beta.io#{t.value}#") for t in JobType]
    # an exceptional status: the recipient's partition of that status
    failed = partitions(ListJobsQuery(recipient="Owner@Acme.COM", status=JobStatus.FAILED, domain="acme.com"), TWO)
    assert failed == [
        Partition("ByRecipientStatus", "owner@acme.com#failed", prefix=f"acme.com#{t.value}#") for t in JobType
    ]
    # a * caller: the partition's groups (domain and type), found as it is read
    assert partitions(ListJobsQuery(recipient="owner@acme.com", type=JobType.MANUAL), EVERYONE) == [
        Partition("ByRecipient", "owner@acme.com", grouped=True, suffix="#manual#")
    ]


def test_fingerprints_differ_between_callers_and_filters() -> None:
    a = Caller(subject="s", domains=frozenset({"acme.com"}))
    b = Caller(subject="s", domains=frozenset({"beta.io"}))
    ab = Caller(subject="s", domains=frozenset({"acme.com", "beta.io"}))
    queries = [
        ListJobsQuery(),
        ListJobsQuery(status=JobStatus.FAILED),
        ListJobsQuery(type=JobType.MANUAL),
        ListJobsQuery(status=JobStatus.DELIVERED),
        ListJobsQuery(recipient="x@acme.com"),
        ListJobsQuery.model_validate({"created_after": "2026-01-01T00:00:00Z"}),
        ListJobsQuery.model_validate({"created_before": "2026-01-01T00:00:00Z"}),
    ]
    prints = {
        _fingerprint(q, plan(q, c, bulks=_NoTable()))  # type: ignore[arg-type]
        for q in queries
        for c in (a, b, ab, EVERYONE)
    }
    assert len(prints) == len(queries) * 4
