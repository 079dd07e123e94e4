"""The jobs table: the only code that reads or writes it.

Item layout (docs/storage.md, sections 3 to 5):

- a job (``pk`` = ``job_id``): the job's own fields (``common.models.job.Job``;
  ``None`` is stored as absent) and the index keys of ``common.adapters.index_keys``, each
  present only while its index should hold the job (``keys.index_attributes``;
  every status change writes exactly ``keys.transition``). Every index is
  sorted by job id (a ULID), so newest first is a descending Query. Its
  email's content is not among its fields: ``body`` names a body item
  (``pk`` = ``b#<body id>``, ``common.adapters.bodies``), written once with the job
  (``put_new``, ``put_new_idempotent``, ``put_body_if_absent``) and never
  updated, so every status change rewrites a small item;
- ``due_at`` while the job may be swept (queued, sending, retrying): when the
  sweeper should consider it stuck; not indexed (the sweeper reads ``InFlight``);
- ``lease_until`` (epoch ms) and ``lease_token`` while a worker holds it;
- ``expires_at``: DynamoDB's TTL.

A bulk (``pk`` = ``k#<bulk_id>``): domain, subject, created_at, total; read by
``GET /bulks/{bulk_id}``.

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

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from common.adapters import index_keys as keys
from common.adapters.attribute_values import Item, deserialize, serialize
from common.adapters.botocore_errors import error_code
from common.adapters.dynamo import (
    BATCH_GET_LIMIT,
    BATCH_WRITE_LIMIT,
    UNPROCESSED_RETRIES,
    backoff,
    batch_get,
    conditionally,
    storage_error,
    update_or_old,
)
from common.adapters.suppressions import SuppressionStore
from common.models.clock import epoch_seconds, to_rfc3339
from common.models.errors import IdempotencyKeyReused, StorageError
from common.models.job import (
    JOB_ID_RE,
    AttemptLogEntry,
    EventEntry,
    Job,
    JobStatus,
    JobType,
    QueueMessage,
    Timestamp,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_SWEEP_PROJECTION = "pk, job_id, #domain, #type, recipient, #status, bulk_id, due_at, sent_at, esk, body"


def idempotency_pk(domain: str, key: str) -> str:
    return f"idem#{domain}#{key}"


class ClaimOutcome(Enum):
    CLAIMED = "claimed"
    FINAL = "final"  # past sending (sent, delivered, failed, canceled...): nothing to do
    BUSY = "busy"  # another worker holds a live lease
    MISSING = "missing"  # no such job: the message can never be processed


class Claim(NamedTuple):
    outcome: ClaimOutcome
    job: Job | None = None
    # Attempts of this job met by back-pressure (``record_attempt(waited=True)``).
    waits: int = 0


class SweepCandidate(NamedTuple):
    message: QueueMessage
    due_at: int
    status: JobStatus = JobStatus.QUEUED
    sent_at: str | None = None
    keyed: keys.KeyedJob | None = None


class IdempotencyMarker(BaseModel):
    """What an idempotency key stands for: the first job's id and its request's fingerprint."""

    model_config = ConfigDict(defer_build=True)

    target_job_id: str = Field(pattern=JOB_ID_RE.pattern)
    fingerprint: str | None = None  # absent on markers written before version 2

    def matches(self, fingerprint: str | None) -> bool:
        """Whether a request with ``fingerprint`` is the one this key stands for
        (a marker or a job without a fingerprint cannot tell: taken as the same)."""
        return self.fingerprint is None or fingerprint is None or self.fingerprint == fingerprint


class JobRecipient(BaseModel):
    """Who a job was for: what a bulk send reads of a selected row."""

    model_config = ConfigDict(defer_build=True)

    job_id: str = Field(pattern=JOB_ID_RE.pattern)
    domain: str
    recipient: str


class BulkRecord(BaseModel):
    """What the first attempt of a bulk send with an ``Idempotency-Key`` fixes
    for every later one: the bulk id (a ULID whose time is the jobs'
    ``created_at``), the request's fingerprint, and the secret its job ids are
    derived with. Never returned to anyone: ``id_key`` stays in the table."""

    model_config = ConfigDict(defer_build=True)

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


class BulkItem(BaseModel):
    """A bulk send as ``GET /bulks/{bulk_id}`` shows it: written once with its jobs."""

    model_config = ConfigDict(defer_build=True)

    bulk_id: str = Field(pattern=JOB_ID_RE.pattern)
    domain: str
    subject: str
    created_at: Timestamp
    total: int

    @classmethod
    def of(cls, bulk_id: str, domain: str, subject: str, total: int) -> BulkItem:
        """A bulk's item; its ``created_at`` is the time its id (a ULID) encodes."""
        # Imported here: the worker and the sweeper never make one (docs/decisions.md, "Cold starts").
        from ulid import ULID  # noqa: PLC0415

        return cls(
            bulk_id=bulk_id, domain=domain, subject=subject, created_at=ULID.from_str(bulk_id).datetime, total=total
        )


def bulk_pk(bulk_id: str) -> str:
    return f"k#{bulk_id}"


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
            expires_at=epoch_seconds(job.created_at + self._retention),
            **keys.index_attributes(keys.KeyedJob.of(job)),
        )
        if job.status.sweepable:
            values.update(due_at=due_at)
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
        """Write new jobs and body items (``common.adapters.bodies``), 25 requests per
        BatchWriteItem (bodies first), retrying what comes back unprocessed."""
        requests = [{"PutRequest": {"Item": item}} for item in bodies]
        requests += [{"PutRequest": {"Item": self.to_item(job, due_at=due_at)}} for job in jobs]
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            self._batch_write(requests[start : start + BATCH_WRITE_LIMIT])

    def _batch_write(self, requests: list[Any]) -> None:
        if len(requests) > BATCH_WRITE_LIMIT:
            raise ValueError(f"BatchWriteItem takes at most {BATCH_WRITE_LIMIT} requests")
        pending: dict[str, list[Any]] = {self._table: requests}
        for attempt in range(UNPROCESSED_RETRIES):
            try:
                response = self._client.batch_write_item(RequestItems=pending)
            except (ClientError, BotoCoreError) as exc:
                raise storage_error("BatchWriteItem", exc) from exc
            unprocessed = response.get("UnprocessedItems") or {}
            if not unprocessed.get(self._table):
                return
            pending = {self._table: list(unprocessed[self._table])}
            backoff(attempt)
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
        for attempt in range(UNPROCESSED_RETRIES):
            try:
                self._client.transact_write_items(TransactItems=items)
                return job.job_id
            except (ClientError, BotoCoreError) as exc:
                if not isinstance(exc, ClientError) or error_code(exc) != "TransactionCanceledException":
                    raise storage_error("TransactWriteItems", exc) from exc
                reasons = exc.response.get("CancellationReasons") or []
                first = reasons[0] if reasons else {}
                if first.get("Code") == "ConditionalCheckFailed" and "Item" in first:
                    found = IdempotencyMarker.model_validate(deserialize(first["Item"]))
                    if not found.matches(job.request_fingerprint):
                        raise IdempotencyKeyReused(job.domain, job.idempotency_key) from None
                    return found.target_job_id
                # A conflicting transaction on the same key: try again shortly;
                # if it won, the next try finds its marker.
                backoff(attempt)
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
        raws = batch_get(self._client, self._table, keys, operation="BatchGetItem", projection=projection)
        return [deserialize(raw) for raw in raws]

    # ------------------------------------------------------------ reading
    def get(self, job_id: str) -> Job | None:
        try:
            response = self._client.get_item(TableName=self._table, Key={"pk": {"S": job_id}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("GetItem", exc) from exc
        item = response.get("Item")
        if item is None or "job_id" not in item:
            return None
        return self.from_item(item)

    def query_partition(
        self,
        index: str,
        key: str,
        *,
        low: str | None,
        high: str | None,
        limit: int,
        start: Mapping[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], Any]:
        """One Query of an index partition, newest first: up to ``limit`` entries
        whose sort key is between ``low`` and ``high`` (inclusive), continuing
        from ``start`` (a previous call's ``LastEvaluatedKey``). Returns the
        entries (deserialized: keys and projected attributes only) and the key
        to continue from (``None``: the partition holds nothing more)."""
        partition_attr, sort_attr = keys.INDEXES[index]
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": partition_attr},
            "ExpressionAttributeValues": serialize({":p": key}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if low is not None and high is not None:
            kwargs["KeyConditionExpression"] += " AND #s BETWEEN :low AND :high"
            kwargs["ExpressionAttributeNames"]["#s"] = sort_attr
            kwargs["ExpressionAttributeValues"] |= serialize({":low": low, ":high": high})
        if start:
            kwargs["ExclusiveStartKey"] = start
        try:
            response = self._client.query(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(f"Query ({index})", exc) from exc
        return [deserialize(item) for item in response.get("Items", [])], response.get("LastEvaluatedKey") or None

    def sort_key_groups(self, index: str, key: str, *, id_chars: int) -> list[str]:
        """The distinct ``<group>`` parts of a partition whose sort keys are
        ``<group><job id>`` (``id_chars`` long), greatest first: a skip scan, one
        Query of one entry per group and one more that finds none."""
        partition_attr, sort_attr = keys.INDEXES[index]
        groups: list[str] = []
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": index,
                "KeyConditionExpression": "#p = :p",
                "ExpressionAttributeNames": {"#p": partition_attr},
                "ExpressionAttributeValues": serialize({":p": key}),
                "ScanIndexForward": False,
                "Limit": 1,
            }
            if groups:  # every sort key of a group is longer than, so above, the group itself
                kwargs["KeyConditionExpression"] += " AND #s < :below"
                kwargs["ExpressionAttributeNames"]["#s"] = sort_attr
                kwargs["ExpressionAttributeValues"] |= serialize({":below": groups[-1]})
            try:
                response = self._client.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise storage_error(f"Query ({index})", exc) from exc
            items = response.get("Items") or []
            if not items:
                return groups
            groups.append(str(deserialize(items[0])[sort_attr])[:-id_chars])

    def in_flight(self, shard: str) -> list[str]:
        """The job ids of one ``InFlight`` shard (``fk`` value), every page read."""
        found: list[str] = []
        start: Any = None
        while True:
            entries, start = self.query_partition("InFlight", shard, low=None, high=None, limit=1000, start=start)
            found += [str(entry["pk"]) for entry in entries]
            if start is None:
                return found

    def fetch_many(self, job_ids: Sequence[str], *, consistent: bool = False) -> dict[str, Job]:
        """The jobs among ``job_ids`` that exist, by id: 100 keys per BatchGetItem
        (DynamoDB's limit), retrying what comes back unprocessed. Eventually
        consistent unless asked (a page of the log), as the indexes are."""
        found: dict[str, Job] = {}
        unique = list(dict.fromkeys(job_ids))
        for begin in range(0, len(unique), BATCH_GET_LIMIT):
            chunk = [{"pk": {"S": job_id}} for job_id in unique[begin : begin + BATCH_GET_LIMIT]]
            for raw in self._batch_get_raw(chunk, consistent=consistent):
                if "job_id" in raw:
                    job = self.from_item(raw)
                    found[job.job_id] = job
        return found

    def _sweep_items(self, job_ids: Sequence[str]) -> list[dict[str, Any]]:
        """What the sweeper needs of those jobs (strongly consistent): their
        keys' sources, status, ``due_at``, ``sent_at`` and the body's id, never a body."""
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(job_ids))
        for begin in range(0, len(unique), BATCH_GET_LIMIT):
            chunk = [{"pk": {"S": job_id}} for job_id in unique[begin : begin + BATCH_GET_LIMIT]]
            raws = self._batch_get_raw(chunk, consistent=True, projection=_SWEEP_PROJECTION)
            found += [deserialize(raw) for raw in raws if "job_id" in raw]
        return found

    def _batch_get_raw(self, keys_: list[Any], *, consistent: bool, projection: str | None = None) -> list[Item]:
        return batch_get(
            self._client,
            self._table,
            keys_,
            operation="BatchGetItem (jobs)",
            consistent=consistent,
            projection=projection,
            names={"#domain": "domain", "#type": "type", "#status": "status"} if projection is not None else None,
        )

    # ------------------------------------------------------------ bulks
    def put_bulk(self, bulk: BulkItem) -> None:
        """Write a bulk's item (``k#<bulk_id>``): what ``GET /bulks/{bulk_id}`` reads.
        Written again by a replay of the same bulk: the same values. An
        ``UpdateItem`` that sets only these, so a replay after a cancel keeps
        the bulk's cancel mark."""
        fields = bulk.model_dump(mode="json") | {"expires_at": epoch_seconds(bulk.created_at + self._retention)}
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": bulk_pk(bulk.bulk_id)}},
                UpdateExpression="SET " + ", ".join(f"#f{n} = :f{n}" for n in range(len(fields))),
                ExpressionAttributeNames={f"#f{n}": name for n, name in enumerate(fields)},
                ExpressionAttributeValues=serialize({f":f{n}": value for n, value in enumerate(fields.values())}),
            )
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("UpdateItem (bulk)", exc) from exc

    def get_bulk(self, bulk_id: str) -> BulkItem | None:
        try:
            response = self._client.get_item(TableName=self._table, Key={"pk": {"S": bulk_pk(bulk_id)}})
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("GetItem (bulk)", exc) from exc
        item = response.get("Item")
        return None if item is None else BulkItem.model_validate(deserialize(item))

    def mark_bulk_canceled(self, bulk_id: str, *, now_ms: int) -> bool:
        """Mark a bulk send canceled (``canceled_at``, the first cancel's time,
        kept by later ones): from then on the worker cancels, rather than
        sends, any of its jobs it claims (``bulk_canceled``). One conditional
        ``UpdateItem``; returns False when the bulk's item is not there."""
        return conditionally(
            "UpdateItem (bulk cancel mark)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": bulk_pk(bulk_id)}},
                UpdateExpression="SET canceled_at = if_not_exists(canceled_at, :now)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=serialize({":now": now_ms}),
            ),
        )

    def bulk_canceled(self, bulk_id: str) -> bool:
        """Whether a bulk send was canceled: one strongly consistent ``GetItem``
        of its item's ``canceled_at`` (1 RRU), so a mark written before the
        read is always seen."""
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": bulk_pk(bulk_id)}},
                ConsistentRead=True,
                ProjectionExpression="canceled_at",
            )
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("GetItem (bulk cancel mark)", exc) from exc
        return "canceled_at" in (response.get("Item") or {})

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
        raws = batch_get(
            self._client,
            self._table,
            keys,
            operation="BatchGetItem",
            consistent=False,
            projection="job_id, #domain, recipient",
            names={"#domain": "domain"},
        )
        return [JobRecipient.model_validate(deserialize(raw)) for raw in raws if "job_id" in raw]

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
            if not isinstance(exc, ClientError) or error_code(exc) != "ConditionalCheckFailedException":
                raise storage_error("PutItem (bulk record)", exc) from exc
            old: Mapping[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            found = deserialize(old) | {"key_hash": record.key_hash}
            return BulkRecord.model_validate(found), False
        return record, True

    def put_body_if_absent(self, body: Item) -> bool:
        """Write a body item unless it exists (one conditional PutItem): a
        retried bulk send never rewrites its body. Returns whether this call wrote it."""
        return conditionally(
            "PutItem (body)",
            lambda: self._client.put_item(
                TableName=self._table, Item=body, ConditionExpression="attribute_not_exists(pk)"
            ),
        )

    def put_if_absent(self, job: Job, *, due_at: int) -> bool:
        """Write a new job unless an item with its id exists (one conditional
        PutItem). Returns whether this call wrote it."""
        return conditionally(
            "PutItem (job)",
            lambda: self._client.put_item(
                TableName=self._table,
                Item=self.to_item(job, due_at=due_at),
                ConditionExpression="attribute_not_exists(pk)",
            ),
        )

    def existing_ids(self, job_ids: Sequence[str]) -> set[str]:
        """Which of ``job_ids`` (unique) are stored: strongly consistent
        BatchGetItem, 100 keys per call, reading the key only."""
        found: set[str] = set()
        for start in range(0, len(job_ids), BATCH_GET_LIMIT):
            keys_ = [{"pk": {"S": job_id}} for job_id in job_ids[start : start + BATCH_GET_LIMIT]]
            operation = "BatchGetItem (existing jobs)"
            raws = batch_get(self._client, self._table, keys_, operation=operation, projection="pk")
            found.update(str(raw["pk"]["S"]) for raw in raws)
        return found

    # ------------------------------------------------------------ sending
    def claim(self, message: QueueMessage, *, now_ms: int, lease_seconds: int, token: str, due_at: int) -> Claim:
        """Take a job for sending with one conditional update that also returns it.

        Succeeds for a job ``queued`` or ``retrying``, or ``sending`` whose lease
        expired (its worker died). Counts the attempt. Every status past sending
        (``sent``, ``delivered``, ``bounced``, ``canceled``...) is refused: never
        sent again. The index keys move through ``keys.transition`` (valid from
        each status the condition allows); the condition checks domain and type,
        which the keys are built from. The recipient and bulk id the keys also
        need are not in the message, but no key a claim writes depends on them.
        """
        job_type = JobType(message.type)
        # The recipient and bulk id change no key a claim sets (fk/fs, status);
        # esk/esa are only removed.
        base = keys.KeyedJob(message.job_id, message.domain, job_type, "", JobStatus.QUEUED)
        olds = [base._replace(status=status) for status in (JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.SENDING)]
        change = keys.transition_from(base, olds, JobStatus.SENDING)
        sets = {name: f":k_{name}" for name in change.set if name != "status"}
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
            | {placeholder: change.set[name] for name, placeholder in sets.items()}
        )
        expression = (
            "SET #status = :sending, lease_until = :lease, lease_token = :token, "
            "attempts = attempts + :one, due_at = :due"
        )
        expression += "".join(f", {name} = {placeholder}" for name, placeholder in sets.items())
        if change.remove:
            expression += " REMOVE " + ", ".join(sorted(change.remove))
        claimed, attributes = update_or_old(
            "UpdateItem (claim)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": message.job_id}},
                ConditionExpression=(
                    "attribute_exists(job_id) AND #domain = :domain AND #type = :type "
                    "AND (#status IN (:queued, :retrying) OR (#status = :sending AND lease_until < :now))"
                ),
                UpdateExpression=expression,
                ExpressionAttributeNames={"#status": "status", "#domain": "domain", "#type": "type"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ),
        )
        if not claimed:
            if "job_id" not in attributes:
                return Claim(ClaimOutcome.MISSING)
            job = self.from_item(attributes)
            if job.domain != message.domain or job.type is not job_type:
                return Claim(ClaimOutcome.MISSING)
            return Claim(ClaimOutcome.FINAL if job.status.past_sending else ClaimOutcome.BUSY, job)
        waits = int(str(attributes.get("waits", {}).get("N", "0")))
        return Claim(ClaimOutcome.CLAIMED, self.from_item(attributes), waits)

    def suppress_unsent(self, message: QueueMessage, *, now_ms: int, error: str) -> bool:
        """Make a job that was never sent ``suppressed`` (its recipient joined the
        domain's suppression list after it was queued), with one conditional
        update: only from ``queued``, ``retrying`` or an expired ``sending`` (as
        ``claim``), and only the job of that domain, type and recipient, so a
        job sent or held meanwhile is never touched. No attempt is counted.
        Returns whether the job was changed."""
        job_type = JobType(message.type)
        if message.recipient is None:  # a message without it is checked by no list
            return False
        # suppressed is exceptional: its rek names the recipient (checked by the condition).
        base = keys.KeyedJob(message.job_id, message.domain, job_type, message.recipient, JobStatus.QUEUED)
        olds = [base._replace(status=status) for status in (JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.SENDING)]
        change = keys.transition_from(base, olds, JobStatus.SUPPRESSED)
        names = {"#status": "status", "#domain": "domain", "#type": "type", "#error": "error"}
        values: dict[str, Any] = {
            ":queued": JobStatus.QUEUED.value,
            ":retrying": JobStatus.RETRYING.value,
            ":sending": JobStatus.SENDING.value,
            ":domain": message.domain,
            ":type": job_type.value,
            ":recipient": message.recipient,
            ":now": now_ms,
            ":error": error,
        }
        sets = ["#error = :error"]
        for n, (name, value) in enumerate(change.set.items()):
            names[f"#k{n}"] = name
            values[f":k{n}"] = value
            sets.append(f"#k{n} = :k{n}")
        removes = sorted({*change.remove, "due_at", "lease_until", "lease_token"})
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": message.job_id}},
                ConditionExpression=(
                    "attribute_exists(job_id) AND #domain = :domain AND #type = :type AND recipient = :recipient "
                    "AND (#status IN (:queued, :retrying) OR (#status = :sending AND lease_until < :now))"
                ),
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
            )
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise storage_error("UpdateItem (suppress)", exc) from exc
        return True

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
        change = keys.transition(keys.KeyedJob.of(job)._replace(status=JobStatus.SENDING), status)
        sets = {"#status": ":status", "attempt_log": "list_append(attempt_log, :entry)"}
        values: dict[str, Any] = {
            ":status": status.value,
            ":entry": [entry.model_dump(mode="json")],
            ":token": token,
        }
        for name, value in change.set.items():
            if name != "status":
                sets[name] = f":k_{name}"
                values[f":k_{name}"] = value
        removes = ["lease_until", "lease_token", *sorted(change.remove)]
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
        if not status.sweepable:
            removes.append("due_at")
        elif due_at is not None:
            sets["due_at"] = ":due"
            values[":due"] = due_at
        expression = "SET " + ", ".join(f"{k} = {v}" for k, v in sets.items()) + " REMOVE " + ", ".join(removes)
        return conditionally(
            "UpdateItem (attempt)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": job.job_id}},
                UpdateExpression=expression,
                ConditionExpression="lease_token = :token",
                ExpressionAttributeNames={"#status": "status", "#error": "error"},
                ExpressionAttributeValues=serialize(values),
            ),
        )

    def settle(
        self, job_id: str, status: JobStatus, *, error: str | None = None, current: keys.KeyedJob | None = None
    ) -> bool:
        """Move a job to ``status`` outside a worker's lease (a delivery event, a
        cancel): one conditional ``UpdateItem`` through ``keys.transition``,
        conditional on the job still being in its current status (parked or
        not). The keys and the current status come from ``current`` when the
        caller knows them (one call), else from a strongly consistent read (two
        calls: what to set and remove depends on the status and on the domain,
        type and recipient the keys are built from). Returns False for an
        unknown job or when its status is not (or no longer) the one known (the
        caller reads again and decides). The next issues add de-duplication
        and precedence of events.
        """
        if current is not None:
            return current.job_id == job_id and self._move(current, status, error=error)
        try:
            response = self._client.get_item(TableName=self._table, Key={"pk": {"S": job_id}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("GetItem", exc) from exc
        item = response.get("Item")
        if item is None or "job_id" not in item:
            return False
        return self._move(keys.KeyedJob.from_item(deserialize(item)), status, error=error)

    def _move(
        self, before: keys.KeyedJob, status: JobStatus, *, parked: bool = False, error: str | None = None
    ) -> bool:
        change = keys.transition(before, status, parked=parked)
        names = {"#status": "status"}
        values: dict[str, Any] = {":old": before.status.value}
        sets = []
        for n, (name, value) in enumerate(change.set.items()):
            names[f"#a{n}"] = name
            values[f":a{n}"] = value
            sets.append(f"#a{n} = :a{n}")
        removes = [*sorted(change.remove)]
        if not status.sweepable:
            removes += ["due_at", "lease_until", "lease_token"]
        if error is not None:
            names["#error"] = "error"
            values[":error"] = error
            sets.append("#error = :error")
        expression = ("SET " + ", ".join(sets)) if sets else ""
        if removes:
            expression += " REMOVE " + ", ".join(dict.fromkeys(removes))
        condition = "#status = :old AND " + ("attribute_exists(esk)" if before.parked else "attribute_not_exists(esk)")
        if before.status.exceptional:
            condition = "#status = :old"
        return conditionally(
            "UpdateItem (settle)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": before.job_id}},
                UpdateExpression=expression.strip(),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
            ),
        )

    # ------------------------------------------------------------ sweeping
    def in_flight_jobs(self, job_ids: Sequence[str]) -> list[SweepCandidate]:
        """What the sweeper needs of those jobs (strongly consistent BatchGetItem)."""
        found: list[SweepCandidate] = []
        for values in self._sweep_items(job_ids):
            job = keys.KeyedJob.from_item(values)
            found.append(
                SweepCandidate(
                    # The body id rides along, so the worker reads the body before its claim.
                    QueueMessage(
                        job_id=job.job_id,
                        domain=job.domain,
                        type=job.type,
                        body=values.get("body"),
                        recipient=job.recipient,
                    ),
                    int(values.get("due_at", 0)),
                    status=job.status,
                    sent_at=values.get("sent_at"),
                    keyed=job,
                )
            )
        return found

    def park(self, candidate: SweepCandidate) -> bool:
        """Move a ``sent`` job that heard no event out of ``InFlight`` into the
        exact status indexes under ``sent`` (``status=sent`` still lists it)."""
        if candidate.keyed is None or candidate.status is not JobStatus.SENT or candidate.keyed.parked:
            return False
        return self._move(candidate.keyed, JobStatus.SENT, parked=True)

    def postpone_sweep(self, job_id: str, *, seen_due_at: int, new_due_at: int) -> bool:
        """Move a swept job's ``due_at`` on, unless it changed since it was read."""
        return conditionally(
            "UpdateItem (sweep)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": job_id}},
                UpdateExpression="SET due_at = :new",
                # A job past sending has no due_at; a claimed one has a new one.
                ConditionExpression="attribute_exists(fk) AND due_at = :seen",
                ExpressionAttributeValues=serialize({":new": new_due_at, ":seen": seen_due_at}),
            ),
        )

    # ------------------------------------------------------------ SES events
    def apply_event(self, write: EventWrite) -> EventResult:
        """Apply one SES event to its job: one conditional ``UpdateItem`` in the
        usual case (the job is in a status the event overrides).

        The write sets the event's status and exactly the index keys it needs
        (``keys.transition_from`` every status it may override, so no read
        comes first), appends the entry to ``events`` and adds its id to
        ``event_ids``; its condition refuses a job in any other status and an
        event already applied. When the condition fails, the job as it was
        comes back with the failure (no extra read) and decides:

        - no such job: ``UNKNOWN_JOB``; the event id already there: ``DUPLICATE``;
        - still ``sending`` (the worker's outcome write is due): ``NOT_SENT_YET``;
        - a status the event does not override (a stronger one, or ``failed``,
          ``canceled``, ``suppressed``): the entry alone is added, conditional on
          that status (``RECORDED``): a second write, only for late events;
        - a status it does override (the tags named another domain or type
          than the job has): the same write built from the job itself.
        """
        old: dict[str, Any] | None = None
        if write.domain is None or write.type is None or write.status.exceptional:
            # Without the tags the status keys cannot be built blind, nor the
            # exceptional statuses' recipient key (``rek``) without the job's own
            # recipient: read the job first (rare events only: delays, bounces,
            # complaints, rejects).
            old = self._raw(write.job_id)
        for _ in range(UNPROCESSED_RETRIES):
            if old is None:
                assert write.domain is not None and write.type is not None  # noqa: S101 - checked above
                base = keys.KeyedJob(write.job_id, write.domain, write.type, "", write.status)
                olds = [base._replace(status=status) for status in sorted(write.moves_from)]
                if JobStatus.SENT in write.moves_from:
                    olds.append(base._replace(status=JobStatus.SENT, parked=True))
                outcome, found = self._event_update(write, base, olds, exact=None)
            else:
                if "job_id" not in old:
                    return EventResult(EventOutcome.UNKNOWN_JOB)
                job = Job.model_validate(old)
                if write.event_id in (old.get("event_ids") or set()):
                    return EventResult(EventOutcome.DUPLICATE, job)
                if job.status is JobStatus.SENDING:
                    return EventResult(EventOutcome.NOT_SENT_YET, job)
                before = keys.KeyedJob.from_item(old)
                if job.status in write.moves_from:
                    outcome, found = self._event_update(write, before, [before], exact=before)
                else:
                    outcome, found = self._event_record(write, before)
            if outcome is not None:
                return EventResult(outcome, Job.model_validate(found))
            old = found
        raise StorageError("UpdateItem (event): the job kept changing")

    def _raw(self, job_id: str) -> dict[str, Any]:
        try:
            response = self._client.get_item(TableName=self._table, Key={"pk": {"S": job_id}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("GetItem", exc) from exc
        return deserialize(response.get("Item") or {})

    def _event_update(
        self, write: EventWrite, base: keys.KeyedJob, olds: list[keys.KeyedJob], *, exact: keys.KeyedJob | None
    ) -> tuple[EventOutcome | None, dict[str, Any]]:
        change = keys.transition_from(base, olds, write.status)
        names = {"#status": "status"}
        values: dict[str, Any] = {}
        sets = ["events = list_append(if_not_exists(events, :no_events), :entry)"]
        for n, (name, value) in enumerate(sorted(change.set.items())):
            names[f"#k{n}"] = name
            values[f":k{n}"] = value
            sets.append(f"#k{n} = :k{n}")
        if write.error is not None:
            names["#error"] = "error"
            values[":error"] = write.error
            sets.append("#error = :error")
        removes = sorted(change.remove)
        if not write.status.sweepable:
            removes += ["due_at", "lease_until", "lease_token"]
        expression = "SET " + ", ".join(sets) + " ADD event_ids :event_id_set"
        expression += " REMOVE " + ", ".join(dict.fromkeys(removes))
        if exact is None:
            statuses = sorted({old.status.value for old in olds})
            placeholders = [f":from{n}" for n in range(len(statuses))]
            values.update(zip(placeholders, statuses, strict=True))
            names.update({"#domain": "domain", "#type": "type"})
            values.update({":domain": base.domain, ":type": base.type.value})
            condition = (
                f"attribute_exists(job_id) AND #domain = :domain AND #type = :type "
                f"AND #status IN ({', '.join(placeholders)})"
            )
        else:
            values[":old"] = exact.status.value
            condition = "#status = :old"
            if exact.status is JobStatus.SENT:
                condition += " AND " + ("attribute_exists(esk)" if exact.parked else "attribute_not_exists(esk)")
        condition += " AND NOT contains(event_ids, :event_id)"
        return self._event_write(write, expression, condition, names, values)

    def _event_record(self, write: EventWrite, before: keys.KeyedJob) -> tuple[EventOutcome | None, dict[str, Any]]:
        """The entry alone, for a job whose status the event does not override."""
        expression = "SET events = list_append(if_not_exists(events, :no_events), :entry) ADD event_ids :event_id_set"
        condition = "#status = :old AND NOT contains(event_ids, :event_id)"
        outcome, found = self._event_write(
            write, expression, condition, {"#status": "status"}, {":old": before.status.value}
        )
        return (EventOutcome.RECORDED if outcome is not None else None), found

    def _event_write(
        self, write: EventWrite, expression: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> tuple[EventOutcome | None, dict[str, Any]]:
        """One conditional UpdateItem: ``(APPLIED, new item)``, or ``(None, old item)``
        when its condition failed (``{}`` when there is no item)."""
        values = values | {
            ":no_events": [],
            ":entry": [write.entry.model_dump(mode="json")],
            ":event_id": write.event_id,
        }
        item_values = serialize(values)
        item_values[":event_id_set"] = {"SS": [write.event_id]}
        applied, item = update_or_old(
            "UpdateItem (event)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": write.job_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=item_values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ),
        )
        return (EventOutcome.APPLIED if applied else None), deserialize(item)

    def suppressions(self) -> SuppressionStore:
        """The suppression entries kept in this table (docs/storage.md, section 3)."""
        return SuppressionStore(self._client, self._table)

    # ------------------------------------------------------------ cancel and retry (v2)
    def cancel(self, job_id: str, *, domain: str, job_type: JobType, recipient: str) -> CancelOutcome:
        """Move a job from ``queued`` or ``retrying`` to ``canceled``: one
        conditional ``UpdateItem`` (the same condition the worker's claim
        needs, so exactly one of a cancel and a claim wins). Its index keys move
        as for any status past sending (``keys.transition_from``, valid from
        both statuses): out of ``InFlight``, into the exact status indexes
        under ``canceled``; ``ByBulk``'s projected status follows. The lease
        and sweep attributes go: nothing sends or sweeps it any more.
        ``domain``, ``type`` and ``recipient`` (which the keys are built from:
        ``canceled`` is an exceptional status, its ``rek`` names the recipient) are
        part of the condition. Returns the job after the write, or as found when
        refused."""
        base = keys.KeyedJob(job_id, domain, job_type, recipient, JobStatus.QUEUED)
        olds = [base._replace(status=status) for status in CANCELABLE]
        change = keys.transition_from(base, olds, JobStatus.CANCELED)
        names = {"#status": "status", "#domain": "domain", "#type": "type", "#recipient": "recipient"}
        values: dict[str, Any] = {
            ":queued": JobStatus.QUEUED.value,
            ":retrying": JobStatus.RETRYING.value,
            ":domain": domain,
            ":type": job_type.value,
            ":recipient": recipient,
        }
        sets: list[str] = []
        removes = _to_canceled(change, names, values, sets)
        canceled, item = update_or_old(
            "UpdateItem (cancel)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": job_id}},
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE " + ", ".join(dict.fromkeys(removes)),
                ConditionExpression=(
                    "attribute_exists(job_id) AND #domain = :domain AND #type = :type "
                    "AND #recipient = :recipient AND #status IN (:queued, :retrying)"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ),
        )
        return CancelOutcome(canceled, self.from_item(item) if "job_id" in item else None)

    def cancel_claimed(self, job: Job, *, token: str) -> bool:
        """Move a job this worker has just claimed (``sending``, its lease
        ``token``) to ``canceled``, unsent: its bulk send was canceled. One
        conditional ``UpdateItem`` on the lease, which also takes back the
        attempt the claim counted (nothing was tried). Returns False when the
        lease was lost meanwhile."""
        change = keys.transition(keys.KeyedJob.of(job)._replace(status=JobStatus.SENDING), JobStatus.CANCELED)
        names = {"#status": "status"}
        values: dict[str, Any] = {":token": token, ":one": 1}
        sets = ["attempts = attempts - :one"]
        removes = _to_canceled(change, names, values, sets)
        return conditionally(
            "UpdateItem (cancel claimed)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": job.job_id}},
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE " + ", ".join(dict.fromkeys(removes)),
                ConditionExpression="lease_token = :token",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
            ),
        )

    def keep_body_until(self, body_id: str, expires_at: int) -> bool:
        """Make a stored body item live at least until ``expires_at`` (a retry
        reuses its job's body: it must not expire before the new job). One
        conditional ``UpdateItem``; returns False when the body is not stored."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"b#{body_id}"}},
                UpdateExpression="SET expires_at = :until",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(expires_at) OR expires_at < :until)"
                ),
                ExpressionAttributeValues=serialize({":until": expires_at}),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except (ClientError, BotoCoreError) as exc:
            if not isinstance(exc, ClientError) or error_code(exc) != "ConditionalCheckFailedException":
                raise storage_error("UpdateItem (body expiry)", exc) from exc
            # Refused: either it already lives long enough, or it is not there.
            found: Mapping[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            return "pk" in found
        return True


def _to_canceled(change: keys.Transition, names: dict[str, str], values: dict[str, Any], sets: list[str]) -> list[str]:
    """Add a move to ``canceled``'s index keys to an update's names, values and
    SET clauses; return what it removes (the keys, and the lease and sweep
    attributes: nothing sends or sweeps a canceled job)."""
    for n, (name, value) in enumerate(sorted(change.set.items())):
        placeholder = "#status" if name == "status" else f"#k{n}"
        names[placeholder] = name
        values[f":k{n}"] = value
        sets.append(f"{placeholder} = :k{n}")
    return [*sorted(change.remove), "due_at", "lease_until", "lease_token"]


# A cancel moves a job from these statuses only (the contract's cancelable set).
CANCELABLE = (JobStatus.QUEUED, JobStatus.RETRYING)


class CancelOutcome(NamedTuple):
    canceled: bool
    job: Job | None  # after the cancel; as found when refused; None: no such job


# ------------------------------------------------------------------ SES events
class EventOutcome(Enum):
    APPLIED = "applied"  # the job took the event's status
    RECORDED = "recorded"  # the entry was added; the job keeps a status the event does not override
    DUPLICATE = "duplicate"  # this event was applied before: nothing written
    UNKNOWN_JOB = "unknown_job"  # no such job
    NOT_SENT_YET = "not_sent_yet"  # the job is still ``sending``: apply the event later


class EventWrite(NamedTuple):
    """One SES event, ready to write (``common.logic.events`` builds it)."""

    job_id: str
    # From SES's tags: the first write builds the status keys from them (its
    # condition checks them); without them the job is read first.
    domain: str | None
    type: JobType | None
    event_id: str  # the event's identity: written once per job
    entry: EventEntry
    status: JobStatus  # what the event makes the job
    moves_from: frozenset[JobStatus]  # the statuses it overrides (section 2's precedence)
    error: str | None = None  # the job's ``error`` when the event moves it


class EventResult(NamedTuple):
    outcome: EventOutcome
    job: Job | None = None  # after the write (``APPLIED``, ``RECORDED``), else as found
