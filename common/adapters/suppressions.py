"""Suppression lists in the jobs table: the only code that reads or writes them.

One list per domain (docs/storage.md, section 3, "Suppression entry"). An
entry is the item ``pk = sup#<domain>#<email, lower-case>`` with ``domain``,
``email``, ``reason``, ``created_at``, ``job_id`` (absent for ``None``) and
the keys of the sparse index ``BySuppression``: ``spk = <domain>``,
``ssk = <created_at>#<email>``, so a descending Query lists a domain newest
first. No other item carries ``spk``.

- ``add``: one PutItem conditional on the entry being new; an address
  already listed keeps its entry (returned as it is).
- ``remove``: one DeleteItem conditional on the entry existing.
- ``get_many``: BatchGetItem, at most 100 keys per call (AWS's limit, asserted
  here: moto accepts more), unprocessed keys retried.
- ``get_many_with_bulk_marks``: the same read, which also reads the cancel
  marks of the bulk sends named (their items, ``common.adapters.bulks``),
  strongly consistent then: the worker's one read per batch.
- ``page``: one partition of ``BySuppression``, newest first, ``limit + 1``
  entries read so the caller knows whether another page follows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters.attribute_values import deserialize, serialize
from common.adapters.botocore_errors import error_code
from common.adapters.bulks import bulk_pk
from common.adapters.dynamo import BATCH_GET_LIMIT, batch_get, newest_first, storage_error, transact
from common.models.clock import to_rfc3339
from common.models.errors import StorageError
from common.models.suppression import SuppressionEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

SUPPRESSION_INDEX = "BySuppression"
_FIELDS = ("domain", "email", "reason", "created_at", "job_id")
_PROJECTION = ", ".join(f"#{name}" for name in _FIELDS)
_NAMES = {f"#{name}": name for name in _FIELDS}


def suppression_pk(domain: str, email: str) -> str:
    """The entry's key: addresses compare case-insensitively."""
    return f"sup#{domain}#{email.lower()}"


def suppression_item(entry: SuppressionEntry) -> dict[str, AttributeValueTypeDef]:
    """The item of an entry, with the listing keys: what every writer must put."""
    created_at = to_rfc3339(entry.created_at)
    email = entry.email.lower()
    values: dict[str, Any] = {
        "pk": suppression_pk(entry.domain, email),
        "domain": entry.domain,
        "email": email,
        "reason": entry.reason.value,
        "created_at": created_at,
        "job_id": entry.job_id,
        "spk": entry.domain,
        "ssk": f"{created_at}#{email}",
    }
    return serialize(values)


def _entry(item: Mapping[str, Any]) -> SuppressionEntry:
    """Items read back are validated again."""
    values = deserialize({k: v for k, v in item.items() if k in _FIELDS})
    return SuppressionEntry.model_validate(values)


class BatchReading(NamedTuple):
    """What one batch read found: the suppressed pairs (keyed by ``(domain,
    address lower-case)``), and which of the bulk sends read are canceled."""

    suppressed: dict[tuple[str, str], SuppressionEntry]
    bulks_read: frozenset[str]
    canceled_bulks: frozenset[str]


class PagePosition(NamedTuple):
    """Where a page of one domain's list starts: strictly after this entry."""

    ssk: str
    email: str


class SuppressionStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def add(
        self, entry: SuppressionEntry, *, also: Sequence[TransactWriteItemTypeDef] = ()
    ) -> tuple[SuppressionEntry, bool]:
        """Put ``entry`` unless its address is listed: returns the entry listed
        (the one found, or this one) and whether this call wrote it. ``also``
        (an audit entry): written in the same ``TransactWriteItems``, only if
        ``entry`` is."""
        put: Any = {
            "TableName": self._table,
            "Item": suppression_item(entry),
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        old: Mapping[str, Any] | None = None
        if also:
            refused = transact(
                self._client,
                [{"Put": put}, *also],
                operation="TransactWriteItems (suppression)",
                names=("suppression", "audit entry"),
            )
            old = None if refused is None else (refused.get("Item") or {})
        else:
            try:
                self._client.put_item(**put)
            except (ClientError, BotoCoreError) as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise storage_error("PutItem (suppression)", exc) from exc
                old = exc.response.get("Item") or {} if isinstance(exc, ClientError) else {}  # type: ignore[assignment]
        if old is not None:
            if old:
                return _entry(old), False
            found = self.get(entry.domain, entry.email)  # no old item came back: read it
            if found is None:  # removed meanwhile: the caller may try again
                raise StorageError("PutItem (suppression) failed: the entry changed meanwhile")
            return found, False
        return entry.model_copy(update={"email": entry.email.lower()}), True

    def remove(self, domain: str, email: str, *, also: Sequence[TransactWriteItemTypeDef] = ()) -> bool:
        """Delete the entry; False when the address is not listed. ``also``
        (an audit entry): written in the same ``TransactWriteItems``, only if
        the entry is deleted."""
        delete: Any = {
            "TableName": self._table,
            "Key": {"pk": {"S": suppression_pk(domain, email)}},
            "ConditionExpression": "attribute_exists(pk)",
        }
        if also:
            refused = transact(
                self._client,
                [{"Delete": delete}, *also],
                operation="TransactWriteItems (suppression)",
                names=("suppression", "audit entry"),
            )
            return refused is None
        try:
            self._client.delete_item(**delete)
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise storage_error("DeleteItem (suppression)", exc) from exc
        return True

    def get(self, domain: str, email: str) -> SuppressionEntry | None:
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": suppression_pk(domain, email)}},
                ProjectionExpression=_PROJECTION,
                ExpressionAttributeNames=_NAMES,
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("GetItem (suppression)", exc) from exc
        item = response.get("Item")
        return _entry(item) if item else None

    def get_many(
        self, addresses: Iterable[tuple[str, str]], *, consistent: bool = False
    ) -> dict[tuple[str, str], SuppressionEntry]:
        """The entries of those ``(domain, email)`` pairs that are listed, keyed by
        ``(domain, email lower-case)``: one BatchGetItem per 100 distinct pairs."""
        wanted = list(dict.fromkeys((domain, email.lower()) for domain, email in addresses))
        found: dict[tuple[str, str], SuppressionEntry] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            chunk = wanted[start : start + BATCH_GET_LIMIT]
            for entry in self._batch_get([suppression_pk(d, e) for d, e in chunk], consistent=consistent):
                found[(entry.domain, entry.email)] = entry
        return found

    def get_many_with_bulk_marks(self, addresses: Iterable[tuple[str, str]], bulk_ids: Iterable[str]) -> BatchReading:
        """``get_many``, and the cancel marks of ``bulk_ids`` in the same
        BatchGetItem (one per 100 keys): strongly consistent when a mark is
        read, so a mark written before the read is always seen; eventually
        consistent otherwise (0.5 RRU an address)."""
        wanted = list(dict.fromkeys((domain, email.lower()) for domain, email in addresses))
        bulks = list(dict.fromkeys(bulk_ids))
        keys = [suppression_pk(d, e) for d, e in wanted] + [bulk_pk(b) for b in bulks]
        bulk_of = {bulk_pk(b): b for b in bulks}
        found: dict[tuple[str, str], SuppressionEntry] = {}
        canceled: set[str] = set()
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            raws = batch_get(
                self._client,
                self._table,
                [{"pk": {"S": pk}} for pk in keys[start : start + BATCH_GET_LIMIT]],
                operation="BatchGetItem (suppressions and bulk cancel marks)",
                consistent=bool(bulks),
                projection=_PROJECTION + ", #pk, #canceled_at",
                names={**_NAMES, "#pk": "pk", "#canceled_at": "canceled_at"},
            )
            for raw in raws:
                bulk = bulk_of.get(str(raw["pk"]["S"]))
                if bulk is not None:
                    if "canceled_at" in raw:
                        canceled.add(bulk)
                    continue
                entry = _entry(raw)
                found[(entry.domain, entry.email)] = entry
        return BatchReading(found, frozenset(bulks), frozenset(canceled))

    def _batch_get(self, pks: Sequence[str], *, consistent: bool) -> list[SuppressionEntry]:
        raws = batch_get(
            self._client,
            self._table,
            [{"pk": {"S": pk}} for pk in pks],
            operation="BatchGetItem (suppressions)",
            consistent=consistent,
            projection=_PROJECTION,
            names=_NAMES,
        )
        return [_entry(raw) for raw in raws]

    def page(
        self, domain: str, *, limit: int, after: PagePosition | None = None
    ) -> tuple[list[SuppressionEntry], PagePosition | None]:
        """Up to ``limit`` entries of ``domain``'s list, newest first, after
        ``after``; and the position of the last one returned when more follow."""
        start = None
        if after is not None:
            start = {"spk": {"S": domain}, "ssk": {"S": after.ssk}, "pk": {"S": suppression_pk(domain, after.email)}}
        raw = newest_first(
            self._client,
            self._table,
            SUPPRESSION_INDEX,
            ("spk", domain),
            wanted=limit + 1,  # one more, to know whether another page follows
            start=start,
            operation="Query (suppressions)",
        )
        entries = [_entry(item) for item in raw]
        sort_keys = [str(item["ssk"]["S"]) for item in raw]  # each entry's ssk as stored (a cursor names it exactly)
        if len(entries) <= limit:
            return entries, None
        return entries[:limit], PagePosition(ssk=sort_keys[limit - 1], email=entries[limit - 1].email)
