"""The jobs table: the only code that reads or writes it.

Item layout (one item per job, ``pk`` = ``job_id``):

- the job's own fields (``common.models.Job``); ``None`` is stored as absent;
  its email's content is not among them: ``body`` names a body item
  (``pk`` = ``b#<body id>``, ``common.bodies``), written once with the job
  (``put_new``, ``put_new_idempotent``, ``put_body_if_absent``) and never
  updated, so every status change rewrites a small item;
- index keys, derived from domain, status and type and rewritten with every
  status change: ``domain_status``, ``domain_type``, ``domain_status_type``,
  ``scope``, ``status_type`` (``domain``, ``status`` and ``type`` serve as
  keys as they are). Each GSI is sorted by ``job_id``, a ULID, so newest
  first is a descending Query;
- ``sweep`` and ``due_at`` while the job is not final (sparse ``BySweepDue``
  index: the sweeper reads only jobs that may be stuck). ``sweep`` is the
  job's queue (``priority`` or ``bulk``), so the sweeper can take every
  overdue priority job before any bulk one;
- ``lease_until`` (epoch ms) and ``lease_token`` while a worker holds it;
- ``expires_at``: DynamoDB's TTL.

A bulk send's record (``pk`` = ``bulk#<hash of caller and Idempotency-Key>``)
fixes what a bulk send with that key is: its ``bulk_id`` (whose time is its
jobs' ``created_at``), the request's fingerprint and the secret its job ids
are derived with (``BulkRecord``). Like the marker below, it carries no index
keys; it expires after 24 hours.

An idempotency marker (``pk`` = ``idem#<domain>#<key>``) points at the job
created first for that key (``target_job_id``) and keeps the fingerprint of
the request that created it (``fingerprint``; markers written before version 2
have none). It carries none of the index keys, so it never shows in a listing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field

from common.clock import epoch_seconds, to_rfc3339
from common.errors import IdempotencyKeyReused, StorageError
from common.models import (
    JOB_ID_RE,
    AttemptLogEntry,
    Job,
    JobStatus,
    JobSummary,
    JobType,
    QueueMessage,
    QueueName,
    queue_for,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

Item = dict[str, "AttributeValueTypeDef"]

BATCH_WRITE_LIMIT = 25  # AWS: at most 25 requests per BatchWriteItem
BATCH_GET_LIMIT = 100  # AWS: at most 100 keys per BatchGetItem
_UNPROCESSED_RETRIES = 8

SCOPE_ALL = "all"
# The BySweepDue partition of a job not final is its queue's name. Jobs written
# before that carry "pending": read after priority and before bulk until no
# job of that partition is left (a job leaves it when it becomes final).
SWEEP_LEGACY = "pending"
SWEEP_ORDER: tuple[str, ...] = (QueueName.PRIORITY.value, SWEEP_LEGACY, QueueName.BULK.value)


def sweep_partition(job_type: JobType) -> str:
    """The BySweepDue partition of a job not final: its queue's name."""
    return queue_for(job_type).value


_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def serialize(values: Mapping[str, Any]) -> Item:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def status_keys(domain: str, job_type: JobType, status: JobStatus) -> dict[str, str]:
    """The index keys that change with the status."""
    return {
        "status": status.value,
        "domain_status": f"{domain}#{status.value}",
        "domain_status_type": f"{domain}#{status.value}#{job_type.value}",
        "status_type": f"{status.value}#{job_type.value}",
    }


def _short(keys: dict[str, str]) -> dict[str, str]:
    """Placeholders for the status-dependent keys: ``:ds``, ``:dst``, ``:st``."""
    return {"ds": keys["domain_status"], "dst": keys["domain_status_type"], "st": keys["status_type"]}


def idempotency_pk(domain: str, key: str) -> str:
    return f"idem#{domain}#{key}"


def _code(exc: Exception) -> str:
    """A ClientError's code ("" for anything else)."""
    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""


def _failed(operation: str, exc: ClientError | BotoCoreError) -> StorageError:
    """The one translation of what botocore raised (after its own retries)."""
    return StorageError(f"{operation} failed: {_code(exc) or type(exc).__name__}")


def _backoff(attempt: int) -> None:
    time.sleep(min(0.05 * (2**attempt), 2.0))


class ClaimOutcome(Enum):
    CLAIMED = "claimed"
    FINAL = "final"  # already sent or failed: nothing to do
    BUSY = "busy"  # another worker holds a live lease
    MISSING = "missing"  # no such job: the message can never be processed


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    job: Job | None = None
    # Attempts of this job met by back-pressure (``record_attempt(waited=True)``).
    waits: int = 0


@dataclass(frozen=True)
class SweepCandidate:
    message: QueueMessage
    due_at: int


@dataclass(frozen=True)
class IndexPartition:
    """One partition of a listing index: the jobs whose ``key_attr`` is ``key_value``,
    sorted by ``job_id``."""

    index: str
    key_attr: str
    key_value: str


# (by domain, by status, by type) -> the listing index and its key attribute
_LISTING_INDEXES: dict[tuple[bool, bool, bool], tuple[str, str]] = {
    (True, False, False): ("ByDomain", "domain"),
    (True, True, False): ("ByDomainStatus", "domain_status"),
    (True, False, True): ("ByDomainType", "domain_type"),
    (True, True, True): ("ByDomainStatusType", "domain_status_type"),
    (False, False, False): ("ByScope", "scope"),
    (False, True, False): ("ByStatus", "status"),
    (False, False, True): ("ByType", "type"),
    (False, True, True): ("ByStatusType", "status_type"),
}


def listing_partition(*, domain: str | None, status: JobStatus | None, job_type: JobType | None) -> IndexPartition:
    """The index partition holding exactly the jobs that match: of ``domain``
    (``None``: of every domain), with that status and type if given."""
    index, attr = _LISTING_INDEXES[(domain is not None, status is not None, job_type is not None)]
    parts = [part for part in (domain, status and status.value, job_type and job_type.value) if part]
    return IndexPartition(index, attr, "#".join(parts) or SCOPE_ALL)


class IdempotencyMarker(BaseModel):
    """What an idempotency key stands for: the first job's id and its request's fingerprint."""

    target_job_id: str = Field(pattern=JOB_ID_RE.pattern)
    fingerprint: str | None = None  # absent on markers written before version 2

    def matches(self, fingerprint: str | None) -> bool:
        """Whether a request with ``fingerprint`` is the one this key stands for
        (a marker or a job without a fingerprint cannot tell: taken as the same)."""
        return self.fingerprint is None or fingerprint is None or self.fingerprint == fingerprint


class JobRecipient(BaseModel):
    """Who a job was for: what a bulk send reads of a selected row."""

    job_id: str = Field(pattern=JOB_ID_RE.pattern)
    domain: str
    recipient: str


class BulkRecord(BaseModel):
    """What the first attempt of a bulk send with an ``Idempotency-Key`` fixes
    for every later one: the bulk id (a ULID whose time is the jobs'
    ``created_at``), the request's fingerprint, and the secret its job ids are
    derived with. Never returned to anyone: ``id_key`` stays in the table."""

    key_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    bulk_id: str = Field(pattern=JOB_ID_RE.pattern)
    request_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    id_key: str = Field(pattern=r"^[0-9a-f]{32,}$")
    expires_at: int

    @property
    def pk(self) -> str:
        return bulk_record_pk(self.key_hash)


def bulk_record_pk(key_hash: str) -> str:
    return f"bulk#{key_hash}"


class JobsTable:
    def __init__(self, client: DynamoDBClient, table_name: str, *, retention_days: int = 90) -> None:
        self._client = client
        self._table = table_name
        self._retention = timedelta(days=retention_days)

    # ------------------------------------------------------------ item mapping
    def to_item(self, job: Job, *, due_at: int) -> Item:
        values = job.model_dump(mode="json")
        values.update(
            pk=job.job_id,
            scope=SCOPE_ALL,
            domain_type=f"{job.domain}#{job.type.value}",
            expires_at=epoch_seconds(job.created_at + self._retention),
            **status_keys(job.domain, job.type, job.status),
        )
        if not job.status.is_final:
            values.update(sweep=sweep_partition(job.type), due_at=due_at)
        return serialize(values)

    @staticmethod
    def from_item(item: Mapping[str, Any]) -> Job:
        """Items read back are validated again: a malformed one fails loudly here."""
        return Job.model_validate(deserialize(item))

    # ------------------------------------------------------------ creating
    def expires_at(self, created_at: datetime) -> int:
        """The TTL (epoch seconds) of a job created at ``created_at``, and of its body."""
        return epoch_seconds(created_at + self._retention)

    def put_new(self, jobs: Sequence[Job], *, due_at: int, bodies: Sequence[Item] = ()) -> None:
        """Write new jobs and body items (``common.bodies``), 25 requests per
        BatchWriteItem (bodies first), retrying what comes back unprocessed."""
        requests = [{"PutRequest": {"Item": item}} for item in bodies]
        requests += [{"PutRequest": {"Item": self.to_item(job, due_at=due_at)}} for job in jobs]
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            self._batch_write(requests[start : start + BATCH_WRITE_LIMIT])

    def _batch_write(self, requests: list[Any]) -> None:
        if len(requests) > BATCH_WRITE_LIMIT:
            raise ValueError(f"BatchWriteItem takes at most {BATCH_WRITE_LIMIT} requests")
        pending: dict[str, list[Any]] = {self._table: requests}
        for attempt in range(_UNPROCESSED_RETRIES):
            try:
                response = self._client.batch_write_item(RequestItems=pending)
            except (ClientError, BotoCoreError) as exc:
                raise _failed("BatchWriteItem", exc) from exc
            unprocessed = response.get("UnprocessedItems") or {}
            if not unprocessed.get(self._table):
                return
            pending = {self._table: list(unprocessed[self._table])}
            _backoff(attempt)
        raise StorageError(f"BatchWriteItem left {len(pending[self._table])} items unprocessed")

    def put_new_idempotent(self, job: Job, *, due_at: int, body: Item | None = None) -> str:
        """Write a job that carries an idempotency key, unless that key was seen.

        One TransactWriteItems: the marker (conditional on being new, keeping
        the job's ``request_fingerprint``), the job and its body item (``body``). Returns the job id the
        key stands for: this job's, or the first one's. Raises
        ``IdempotencyKeyReused`` when the key stands for a different request
        (another writer got there first since ``idempotency_markers`` looked).
        """
        if job.idempotency_key is None:
            raise ValueError("put_new_idempotent needs a job with an idempotency_key")
        marker = serialize(
            {
                "pk": idempotency_pk(job.domain, job.idempotency_key),
                "target_job_id": job.job_id,
                "fingerprint": job.request_fingerprint,
                "expires_at": epoch_seconds(job.created_at + self._retention),
            }
        )
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": marker,
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self.to_item(job, due_at=due_at),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if body is not None:
            items.append(
                {"Put": {"TableName": self._table, "Item": body, "ConditionExpression": "attribute_not_exists(pk)"}}
            )
        for attempt in range(_UNPROCESSED_RETRIES):
            try:
                self._client.transact_write_items(TransactItems=items)
                return job.job_id
            except (ClientError, BotoCoreError) as exc:
                if not isinstance(exc, ClientError) or _code(exc) != "TransactionCanceledException":
                    raise _failed("TransactWriteItems", exc) from exc
                reasons = exc.response.get("CancellationReasons") or []
                first = reasons[0] if reasons else {}
                if first.get("Code") == "ConditionalCheckFailed" and "Item" in first:
                    found = IdempotencyMarker.model_validate(deserialize(first["Item"]))
                    if not found.matches(job.request_fingerprint):
                        raise IdempotencyKeyReused(job.domain, job.idempotency_key) from None
                    return found.target_job_id
                # A conflicting transaction on the same key: try again shortly;
                # if it won, the next try finds its marker.
                _backoff(attempt)
        raise StorageError("TransactWriteItems kept conflicting")

    def idempotency_markers(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], IdempotencyMarker]:
        """The markers of those ``(domain, key)`` pairs (unique) that were seen,
        100 keys per BatchGetItem (strongly consistent), retrying what comes
        back unprocessed. Reads the markers only, never a job."""
        wanted = {idempotency_pk(domain, key): (domain, key) for domain, key in keys}
        pks = list(wanted)
        found: dict[tuple[str, str], IdempotencyMarker] = {}
        for start in range(0, len(pks), BATCH_GET_LIMIT):
            chunk = [{"pk": {"S": pk}} for pk in pks[start : start + BATCH_GET_LIMIT]]
            for item in self._batch_get_items(chunk, projection="pk, target_job_id, fingerprint"):
                found[wanted[item["pk"]]] = IdempotencyMarker.model_validate(item)
        return found

    def _batch_get_items(self, keys: list[Any], *, projection: str) -> list[dict[str, Any]]:
        """The items (deserialized) of up to 100 keys that exist, read consistently."""
        request: dict[str, Any] = {
            self._table: {"Keys": keys, "ProjectionExpression": projection, "ConsistentRead": True}
        }
        found: list[dict[str, Any]] = []
        for attempt in range(_UNPROCESSED_RETRIES):
            try:
                response = self._client.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as exc:
                raise _failed("BatchGetItem", exc) from exc
            found += [deserialize(item) for item in response.get("Responses", {}).get(self._table, [])]
            unprocessed = (response.get("UnprocessedKeys") or {}).get(self._table)
            if not unprocessed or not unprocessed.get("Keys"):
                return found
            request = {self._table: unprocessed}
            _backoff(attempt)
        raise StorageError(f"BatchGetItem left {len(request[self._table]['Keys'])} keys unprocessed")

    # ------------------------------------------------------------ reading
    def get(self, job_id: str) -> Job | None:
        try:
            response = self._client.get_item(TableName=self._table, Key={"pk": {"S": job_id}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise _failed("GetItem", exc) from exc
        item = response.get("Item")
        if item is None or "job_id" not in item:
            return None
        return self.from_item(item)

    def list_partition(self, partition: IndexPartition, *, after: str | None, limit: int) -> list[JobSummary]:
        """Up to ``limit`` jobs of one index partition, newest first, starting after
        job ``after`` (``None``: from the newest).

        A Query on the index, never a Scan and never a filter: every item read is
        returned. Reads at most ``limit`` items, in more than one call only when
        DynamoDB stops early (1 MB per call).
        """
        names = {"#key": partition.key_attr}
        values = serialize({":key": partition.key_value})
        start: Any = None
        if after is not None:
            start = serialize({partition.key_attr: partition.key_value, "job_id": after, "pk": after})
        summaries: list[JobSummary] = []
        while len(summaries) < limit:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": partition.index,
                "KeyConditionExpression": "#key = :key",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "ScanIndexForward": False,
                "Limit": limit - len(summaries),
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            try:
                response = self._client.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise _failed(f"Query ({partition.index})", exc) from exc
            # Index items carry the summary only; validated again like any item read back.
            summaries += [JobSummary.model_validate(deserialize(item)) for item in response.get("Items", [])]
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        return summaries

    def recipients_of(self, job_ids: Sequence[str]) -> list[JobRecipient]:
        """Domain and recipient of each existing job among ``job_ids`` (unique ids),
        100 keys per BatchGetItem, retrying what comes back unprocessed. Reads
        only those three attributes: never the bodies."""
        found: list[JobRecipient] = []
        for start in range(0, len(job_ids), BATCH_GET_LIMIT):
            chunk = job_ids[start : start + BATCH_GET_LIMIT]
            found += self._batch_get([{"pk": {"S": job_id}} for job_id in chunk])
        return found

    def _batch_get(self, keys: list[Any]) -> list[JobRecipient]:
        request: dict[str, Any] = {
            self._table: {
                "Keys": keys,
                "ProjectionExpression": "job_id, #domain, recipient",
                "ExpressionAttributeNames": {"#domain": "domain"},
            }
        }
        found: list[JobRecipient] = []
        for attempt in range(_UNPROCESSED_RETRIES):
            try:
                response = self._client.batch_get_item(RequestItems=request)
            except (ClientError, BotoCoreError) as exc:
                raise _failed("BatchGetItem", exc) from exc
            for item in response.get("Responses", {}).get(self._table, []):
                if "job_id" in item:
                    found.append(JobRecipient.model_validate(deserialize(item)))
            unprocessed = (response.get("UnprocessedKeys") or {}).get(self._table)
            if not unprocessed or not unprocessed.get("Keys"):
                return found
            request = {self._table: unprocessed}
            _backoff(attempt)
        raise StorageError(f"BatchGetItem left {len(request[self._table]['Keys'])} keys unprocessed")

    # ------------------------------------------------------------ bulk sends
    def open_bulk(self, record: BulkRecord, *, now: int) -> tuple[BulkRecord, bool]:
        """Store a bulk send's record unless a live one (``expires_at`` after
        ``now``) has its key. One conditional PutItem; returns the record that
        stands (``record``, or the first one, read back from the failed
        condition) and whether it is ``record``."""
        values = record.model_dump(exclude={"key_hash"}) | {"pk": record.pk}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=serialize(values),
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues=serialize({":now": now}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except (ClientError, BotoCoreError) as exc:
            if not isinstance(exc, ClientError) or _code(exc) != "ConditionalCheckFailedException":
                raise _failed("PutItem (bulk record)", exc) from exc
            old: Mapping[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            found = deserialize(old) | {"key_hash": record.key_hash}
            return BulkRecord.model_validate(found), False
        return record, True

    def put_body_if_absent(self, body: Item) -> bool:
        """Write a body item unless it exists (one conditional PutItem): a
        retried bulk send never rewrites its body. Returns whether this call wrote it."""
        try:
            self._client.put_item(TableName=self._table, Item=body, ConditionExpression="attribute_not_exists(pk)")
        except (ClientError, BotoCoreError) as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise _failed("PutItem (body)", exc) from exc
        return True

    def put_if_absent(self, job: Job, *, due_at: int) -> bool:
        """Write a new job unless an item with its id exists (one conditional
        PutItem). Returns whether this call wrote it."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self.to_item(job, due_at=due_at),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except (ClientError, BotoCoreError) as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise _failed("PutItem (job)", exc) from exc
        return True

    def existing_ids(self, job_ids: Sequence[str]) -> set[str]:
        """Which of ``job_ids`` (unique) are stored: strongly consistent
        BatchGetItem, 100 keys per call, reading the key only."""
        found: set[str] = set()
        for start in range(0, len(job_ids), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"pk": {"S": job_id}} for job_id in job_ids[start : start + BATCH_GET_LIMIT]],
                    "ProjectionExpression": "pk",
                    "ConsistentRead": True,
                }
            }
            for attempt in range(_UNPROCESSED_RETRIES):
                try:
                    response = self._client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise _failed("BatchGetItem (existing jobs)", exc) from exc
                found.update(str(item["pk"]["S"]) for item in response.get("Responses", {}).get(self._table, []))
                unprocessed = (response.get("UnprocessedKeys") or {}).get(self._table)
                if not unprocessed or not unprocessed.get("Keys"):
                    break
                request = {self._table: unprocessed}
                _backoff(attempt)
            else:
                raise StorageError(f"BatchGetItem left {len(request[self._table]['Keys'])} keys unprocessed")
        return found

    # ------------------------------------------------------------ sending
    def claim(self, message: QueueMessage, *, now_ms: int, lease_seconds: int, token: str, due_at: int) -> Claim:
        """Take a job for sending with one conditional update that also returns it.

        Succeeds for a job ``queued`` or ``retrying``, or ``sending`` whose lease
        expired (its worker died). Counts the attempt. Anything else sends nothing.
        The message names the job's domain and type, so the status-dependent
        index keys are rewritten in the same update; the condition checks them.
        """
        job_type = JobType(message.type)
        values = serialize(
            {
                ":queued": JobStatus.QUEUED.value,
                ":retrying": JobStatus.RETRYING.value,
                ":sending": JobStatus.SENDING.value,
                ":domain": message.domain,
                ":type": job_type.value,
                ":now": now_ms,
                ":lease": now_ms + lease_seconds * 1000,
                ":token": token,
                ":one": 1,
                ":due": due_at,
            }
            | {f":{k}": v for k, v in _short(status_keys(message.domain, job_type, JobStatus.SENDING)).items()}
        )
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": message.job_id}},
                ConditionExpression=(
                    "attribute_exists(job_id) AND #domain = :domain AND #type = :type "
                    "AND (#status IN (:queued, :retrying) OR (#status = :sending AND lease_until < :now))"
                ),
                UpdateExpression=(
                    "SET #status = :sending, lease_until = :lease, lease_token = :token, "
                    "attempts = attempts + :one, due_at = :due, "
                    "domain_status = :ds, domain_status_type = :dst, status_type = :st"
                ),
                ExpressionAttributeNames={"#status": "status", "#domain": "domain", "#type": "type"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except (ClientError, BotoCoreError) as exc:
            if not isinstance(exc, ClientError) or _code(exc) != "ConditionalCheckFailedException":
                raise _failed("UpdateItem (claim)", exc) from exc
            old: Mapping[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            if "job_id" not in old:
                return Claim(ClaimOutcome.MISSING)
            job = self.from_item(old)
            if job.domain != message.domain or job.type is not job_type:
                return Claim(ClaimOutcome.MISSING)
            return Claim(ClaimOutcome.FINAL if job.status.is_final else ClaimOutcome.BUSY, job)
        attributes = response["Attributes"]
        waits = int(str(attributes.get("waits", {}).get("N", "0")))
        return Claim(ClaimOutcome.CLAIMED, self.from_item(attributes), waits)

    def record_attempt(
        self,
        job: Job,
        *,
        token: str,
        entry: AttemptLogEntry,
        status: JobStatus,
        message_id: str | None = None,
        sent_at: datetime | None = None,
        due_at: int | None = None,
        waited: bool = False,
    ) -> bool:
        """The one write that ends an attempt: status, error, log, and for a sent
        job its ``sent_at`` and ``message_id``. Conditional on still holding the
        lease; returns False when another worker took the job meanwhile.
        ``waited``: the attempt met back-pressure; it is also counted in ``waits``."""
        sets = {
            "#status": ":status",
            "domain_status": ":ds",
            "domain_status_type": ":dst",
            "status_type": ":st",
            "attempt_log": "list_append(attempt_log, :entry)",
        }
        values: dict[str, Any] = {
            ":status": status.value,
            ":entry": [entry.model_dump(mode="json")],
            ":token": token,
        }
        values.update({f":{k}": v for k, v in _short(status_keys(job.domain, job.type, status)).items()})
        removes = ["lease_until", "lease_token"]
        if entry.error is None:
            removes.append("#error")
        else:
            sets["#error"] = ":error"
            values[":error"] = entry.error
        if message_id is not None:
            sets["message_id"] = ":message_id"
            values[":message_id"] = message_id
        if sent_at is not None:
            sets["sent_at"] = ":sent_at"
            values[":sent_at"] = to_rfc3339(sent_at)
        if waited:
            sets["waits"] = "if_not_exists(waits, :zero) + :one"
            values.update({":zero": 0, ":one": 1})
        if status.is_final:
            removes += ["sweep", "due_at"]
        elif due_at is not None:
            sets["due_at"] = ":due"
            values[":due"] = due_at
        expression = "SET " + ", ".join(f"{k} = {v}" for k, v in sets.items()) + " REMOVE " + ", ".join(removes)
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": job.job_id}},
                UpdateExpression=expression,
                ConditionExpression="lease_token = :token",
                ExpressionAttributeNames={"#status": "status", "#error": "error"},
                ExpressionAttributeValues=serialize(values),
            )
        except (ClientError, BotoCoreError) as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise _failed("UpdateItem (attempt)", exc) from exc
        return True

    # ------------------------------------------------------------ sweeping
    def due_for_sweep(self, *, now: int, limit: int) -> Iterator[SweepCandidate]:
        """Up to ``limit`` jobs not final whose ``due_at`` has passed: every priority
        job first, then the bulk ones, oldest due first within each (one Query per
        partition of the sparse BySweepDue index, never a Scan). A bulk backlog
        can therefore never hold back a lost escalation."""
        returned = 0
        for partition in SWEEP_ORDER:
            for candidate in self._due_in(partition, now=now, limit=limit - returned):
                returned += 1
                yield candidate
            if returned >= limit:
                return

    def _due_in(self, partition: str, *, now: int, limit: int) -> Iterator[SweepCandidate]:
        start: Any = None
        returned = 0
        while returned < limit:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": "BySweepDue",
                "KeyConditionExpression": "sweep = :partition AND due_at <= :now",
                "ExpressionAttributeValues": serialize({":partition": partition, ":now": now}),
                "Limit": limit - returned,
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            try:
                response = self._client.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise _failed("Query (sweep)", exc) from exc
            for raw in response.get("Items", []):
                values = deserialize(raw)
                returned += 1
                yield SweepCandidate(
                    QueueMessage(job_id=str(values["pk"]), domain=values["domain"], type=JobType(values["type"])),
                    int(values["due_at"]),
                )
            start = response.get("LastEvaluatedKey")
            if not start:
                return

    def postpone_sweep(self, job_id: str, *, seen_due_at: int, new_due_at: int) -> bool:
        """Move a swept job's ``due_at`` on, unless it changed since it was read."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": job_id}},
                UpdateExpression="SET due_at = :new",
                # A final job has no sweep key; a claimed one has a new due_at.
                ConditionExpression="attribute_exists(sweep) AND due_at = :seen",
                ExpressionAttributeValues=serialize({":new": new_due_at, ":seen": seen_due_at}),
            )
        except (ClientError, BotoCoreError) as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise _failed("UpdateItem (sweep)", exc) from exc
        return True
