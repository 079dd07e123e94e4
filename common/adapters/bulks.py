"""Bulk sends in the jobs table: a bulk's item and its cancel mark, and a bulk
send's record (docs/storage.md, section 3).

A bulk (``pk`` = ``k#<bulk_id>``): domain, subject, created_at, and its
``Due`` entry (``wk``, ``sweep_at``: the sweeper looks at its jobs through
it, until none is in flight), written before its jobs; ``stored``, the
number of its jobs known to be stored, written after them (a bulk send that
fails part-way says how many it stored; a crash leaves it short, never
over); read by ``GET /bulks/{bulk_id}``; ``canceled_at`` once
it is canceled (its mark, which the worker reads after each claim of one of
its jobs).

A bulk send's record (``pk`` = ``bulk#<hash of caller and Idempotency-Key>``)
fixes what a bulk send with that key is: its ``bulk_id`` (whose time is its
jobs' ``created_at``), the request's fingerprint and the secret its job ids
are derived with (``BulkRecord``). Like an idempotency marker, it carries no
index keys; it expires after 24 hours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from common.adapters import index_keys
from common.adapters.attribute_values import deserialize, serialize
from common.adapters.botocore_errors import error_code
from common.adapters.domain_records import BULK_KIND, RecordPosition, page_records, record_lk
from common.adapters.dynamo import TableAdapter, conditionally, storage_error, transact
from common.models.job import JOB_ID_RE, Timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


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
    """A bulk send as ``GET /bulks/{bulk_id}`` shows it. ``stored``: how many
    of its jobs are known to be stored (0 until its bulk send has stored
    them; never more than exist). An item of version 2 carries ``total``, the
    recipients it meant to queue, which is ignored: it counted jobs a failed
    send never wrote."""

    model_config = ConfigDict(defer_build=True)

    bulk_id: str = Field(pattern=JOB_ID_RE.pattern)
    domain: str
    subject: str
    created_at: Timestamp
    stored: int = Field(default=0, ge=0)
    # The JWT sub of the admin who sent it (None on an item of version 2).
    created_by: str | None = None
    # When its jobs are due (they are scheduled until then); None: at once.
    send_at: Timestamp | None = None
    # The first bulk cancel's time (epoch ms), once one was made.
    canceled_at: int | None = None

    @property
    def canceled(self) -> bool:
        return self.canceled_at is not None

    @classmethod
    def of(
        cls,
        bulk_id: str,
        domain: str,
        subject: str,
        *,
        created_by: str | None = None,
        send_at: datetime | None = None,
    ) -> BulkItem:
        """A bulk's item; its ``created_at`` is the time its id (a ULID) encodes."""
        # Imported here: the worker and the sweeper never make one (docs/adr/0033-cold-starts.md).
        from ulid import ULID  # noqa: PLC0415

        return cls(
            bulk_id=bulk_id,
            domain=domain,
            subject=subject,
            created_at=ULID.from_str(bulk_id).datetime,
            created_by=created_by,
            send_at=send_at,
        )


def bulk_pk(bulk_id: str) -> str:
    return f"k#{bulk_id}"


class Bulks(TableAdapter):
    """Bulk items, their cancel marks, and bulk send records."""

    def put_bulk(
        self, bulk: BulkItem, *, sweep_at: int | None = None, also: Sequence[TransactWriteItemTypeDef] = ()
    ) -> None:
        """Write a bulk's item (``k#<bulk_id>``) before its jobs: what ``GET
        /bulks/{bulk_id}`` and ``GET /bulks`` read (``lk``/``ls``: its entry
        in ``ByDomainRecord``). Written again by a replay of the same bulk:
        the same values. An ``UpdateItem`` that sets only these, so a replay
        keeps the bulk's cancel mark and its ``stored`` count. ``sweep_at``:
        the item enters ``Due`` (``wk``), where the sweeper looks at its jobs
        from then on, in place of an entry per job. A scheduled bulk's item
        (``send_at``) enters the scheduler's part of ``Due`` instead, at its
        ``send_at`` (``common.adapters.schedules``). ``also`` (the bulk send's
        audit entry): written in the same ``TransactWriteItems``."""
        fields = bulk.model_dump(mode="json", exclude={"stored", "canceled_at"}, exclude_none=True)
        fields |= {
            "expires_at": self.expires_at(bulk.created_at),
            "lk": record_lk(BULK_KIND, bulk.domain),
            "ls": bulk.bulk_id,
        }
        if bulk.send_at is not None:
            fields |= {
                "wk": index_keys.scheduled_bulk_wk(bulk.bulk_id),
                index_keys.SWEEP_AT: math.ceil(bulk.send_at.timestamp()),
            }
        elif sweep_at is not None:
            fields |= {"wk": index_keys.bulk_wk(bulk.bulk_id), index_keys.SWEEP_AT: sweep_at}
        update: Any = {
            "TableName": self._table,
            "Key": {"pk": {"S": bulk_pk(bulk.bulk_id)}},
            "UpdateExpression": "SET " + ", ".join(f"#f{n} = :f{n}" for n in range(len(fields))),
            "ExpressionAttributeNames": {f"#f{n}": name for n, name in enumerate(fields)},
            "ExpressionAttributeValues": serialize({f":f{n}": value for n, value in enumerate(fields.values())}),
        }
        if also:
            transact(
                self._client,
                [{"Update": update}, *also],
                operation="TransactWriteItems (bulk)",
                names=("bulk", "audit entry"),
            )
            return
        try:
            self._client.update_item(**update)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("UpdateItem (bulk)", exc) from exc

    def page(
        self, domain: str, *, limit: int, after: RecordPosition | None = None
    ) -> tuple[list[BulkItem], RecordPosition | None]:
        """Up to ``limit`` of the domain's bulk sends, newest first (one Query of
        ``ByDomainRecord``, which projects the fields the route answers)."""
        items, last = page_records(
            self._client,
            self._table,
            record_lk(BULK_KIND, domain),
            limit=limit,
            after=after,
            operation="Query (bulks)",
        )
        return [BulkItem.model_validate(item) for item in items], last

    def record_stored(self, bulk_id: str, stored: int) -> bool:
        """Record that ``stored`` of the bulk's jobs are known to be stored,
        after they were written: one ``UpdateItem``, conditional on raising
        the count (a replay only adds jobs). Returns whether it was raised."""
        return conditionally(
            "UpdateItem (bulk stored)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": bulk_pk(bulk_id)}},
                UpdateExpression="SET #stored = :n",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#stored) OR #stored < :n)",
                ExpressionAttributeNames={"#stored": "stored"},
                ExpressionAttributeValues=serialize({":n": stored}),
            ),
        )

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

    def live_record(self, key_hash: str, *, now: int) -> bool:
        """Whether a bulk send's record with this key is stored and live
        (strongly consistent ``GetItem`` of its key only)."""
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": bulk_record_pk(key_hash)}},
                ConsistentRead=True,
                ProjectionExpression="expires_at",
            )
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("GetItem (bulk record)", exc) from exc
        item = response.get("Item") or {}
        return "expires_at" in item and int(str(item["expires_at"].get("N", "0"))) > now

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
