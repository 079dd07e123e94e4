"""GET /jobs and GET /jobs/{job_id}: the log, newest first, and one job's detail.

A page is read from the listing indexes only (Query, never Scan, never a
filter that discards rows). The caller's query maps to one or more index
partitions (``common.jobs.listing_partition``):

- with ``domain``, or for a caller of every domain (``*``), one partition;
- otherwise one per domain of the caller, merged newest first.

For each partition not yet exhausted, a page reads at most ``limit + 1``
items, starting after the last job consumed there; the items read are merged
by ``job_id`` (a ULID: newest first, ties by id) and the first ``limit``
returned. A partition still holding an item read but not returned has more,
so ``next_cursor`` is set exactly when another page has something: every page
but the last is full, and no empty page follows the last.

The cursor carries, per partition, the last job id returned (``""``: none
yet; ``null``: exhausted) and a fingerprint of the partitions, i.e. of the
caller's effective domains and the filters. It is base64url JSON with an
HMAC-SHA256 signature: one that was altered, forged, or made for another
caller's domains or other filters is refused (400 ``invalid_cursor``). Its
positions only ever apply to partitions derived from the caller's own
domains, so even a forged cursor could not reach another tenant's jobs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.api_models import Caller, InvalidCursor, JobsPage, ListJobsQuery
from common.bodies import BodyStore
from common.errors import JobNotFound, StorageError
from common.jobs import IndexPartition, JobsTable, listing_partition
from common.models import JOB_ID_RE, JobDetail, JobSummary

# A partition's position: "" = nothing returned yet, a job id = the last one
# returned, None = exhausted.
Position = Annotated[str, Field(pattern=f"^$|{JOB_ID_RE.pattern}")] | None
_START = ""


class _CursorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = 1
    f: str  # fingerprint of the partitions
    p: list[Position]  # one position per partition, in partition order


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# The shortest cursor key accepted: HMAC-SHA256 wants a key of some length.
MIN_CURSOR_KEY_CHARS = 16


class CursorCodec:
    """Signs and checks page cursors with a secret key (HMAC-SHA256)."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def encode(self, fingerprint: str, positions: Sequence[str | None]) -> str:
        payload = _CursorBody(f=fingerprint, p=list(positions)).model_dump_json().encode()
        return f"{_b64encode(payload)}.{_b64encode(self._sign(payload))}"

    def decode(self, cursor: str, *, fingerprint: str, partitions: int) -> list[str | None]:
        """The positions a cursor holds, if this service made it for this very query."""
        try:
            payload_text, signature_text = cursor.split(".")
            payload, signature = _b64decode(payload_text), _b64decode(signature_text)
        except (ValueError, binascii.Error) as exc:
            raise InvalidCursor("the cursor is malformed: start again without it") from exc
        if not hmac.compare_digest(signature, self._sign(payload)):
            raise InvalidCursor("the cursor is not one this service made: start again without it")
        try:
            body = _CursorBody.model_validate(json.loads(payload))
        except (ValueError, ValidationError) as exc:
            raise InvalidCursor("the cursor is malformed: start again without it") from exc
        if body.f != fingerprint or len(body.p) != partitions or all(p is None for p in body.p):
            raise InvalidCursor("the cursor belongs to another query: start again without it")
        return body.p


def partitions_for(query: ListJobsQuery, caller: Caller) -> list[IndexPartition]:
    """The index partitions holding exactly the jobs this caller asked for."""
    if query.domain is not None:
        caller.require(query.domain)
        domains: list[str | None] = [query.domain]
    elif caller.every_domain:
        domains = [None]
    else:
        domains = list(sorted(caller.domains))
    return [listing_partition(domain=d, status=query.status, job_type=query.type) for d in domains]


def _fingerprint(partitions: Sequence[IndexPartition]) -> str:
    described = json.dumps([[p.index, p.key_value] for p in partitions], separators=(",", ":"))
    return hashlib.sha256(described.encode()).hexdigest()[:32]


def list_jobs(query: ListJobsQuery, caller: Caller, *, jobs: JobsTable, cursors: CursorCodec) -> JobsPage:
    """One page of the log, newest first."""
    partitions = partitions_for(query, caller)
    fingerprint = _fingerprint(partitions)
    positions: list[str | None] = [_START] * len(partitions)
    if query.cursor is not None:
        positions = cursors.decode(query.cursor, fingerprint=fingerprint, partitions=len(partitions))

    read: list[list[JobSummary]] = [
        [] if position is None else jobs.list_partition(partition, after=position or None, limit=query.limit + 1)
        for partition, position in zip(partitions, positions, strict=True)
    ]
    merged = sorted(
        ((summary, index) for index, items in enumerate(read) for summary in items),
        key=lambda pair: pair[0].job_id,
        reverse=True,
    )
    page = merged[: query.limit]

    # Each partition's items on the page are a prefix of what was read from it.
    returned = [0] * len(partitions)
    for _summary, index in page:
        returned[index] += 1
    next_positions: list[str | None] = []
    for index, items in enumerate(read):
        if positions[index] is None or returned[index] == len(items):
            # Fewer than limit + 1 read (a page returns at most limit): nothing left.
            next_positions.append(None)
        else:
            next_positions.append(items[returned[index] - 1].job_id if returned[index] else positions[index])
    has_more = any(position is not None for position in next_positions)
    return JobsPage(
        items=[summary for summary, _index in page],
        next_cursor=cursors.encode(fingerprint, next_positions) if has_more else None,
    )


def job_detail(job_id: str, caller: Caller, *, jobs: JobsTable, bodies: BodyStore) -> JobDetail:
    """One job with its body (read after the job's domain is checked) and
    attempt log; the same 404 whether it does not exist or belongs to a domain
    the caller may not see."""
    job = jobs.get(job_id) if JOB_ID_RE.fullmatch(job_id) else None
    if job is None or not caller.may_see(job.domain):
        raise JobNotFound("no such job")
    found = bodies.get(job.body)
    if found is None:
        raise StorageError("the job's body is not stored")
    return JobDetail.from_job(job, found)
