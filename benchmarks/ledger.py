"""What every recorded DynamoDB request wrote (and read), unit by unit, key by key.

The request log holds requests, not the items they changed. So the recorded
requests are replayed, in their order, against a fresh in-memory DynamoDB
(moto, tables made from ``template.yaml`` under the recorded names): before
and after each write the item is read back, which gives its exact old and
new image. From those two images, DynamoDB's rules give

- the table's write units (the larger of the two images, per started KB;
  twice that inside a transaction; a failed condition is still charged),
- each global secondary index's entry writes (``cost.Index.writes``: sparse
  entries, projections, a key change as a delete and a put), and
- the partition key value each unit lands on (the item's ``pk``; an index's
  old key for a delete, its new one for a put): what figure 7 adds up.

Reads (``GetItem``, ``BatchGetItem``) are priced from the size of the items
they name at that point of the replay (4 KB per unit, half for an
eventually consistent read). Queries are counted by the SDK observer instead.
"""

from __future__ import annotations

import base64
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.cost import KB, Index, item_size, stored_bytes, table_indexes, units

Item = Mapping[str, Any]
WRITE_ACTIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
READ_ACTIONS = frozenset({"GetItem", "BatchGetItem"})
TABLE = "table"  # the key class of the table's own partition keys


@dataclass(frozen=True)
class KeyUnits:
    """Write units one request put on one partition key value."""

    index: str  # TABLE or a GSI's name
    key: str  # the partition key value
    units: float


@dataclass(frozen=True)
class Write:
    """One item changed by one request (a batch or a transaction: one per item)."""

    action: str
    item_kind: str  # job, body, bulk, marker, other
    before_status: str | None
    after_status: str | None
    table_units: float
    index_units: dict[str, float]
    keys: tuple[KeyUnits, ...]
    failed: bool = False

    @property
    def total(self) -> float:
        return self.table_units + sum(self.index_units.values())

    @property
    def step(self) -> str:
        """What the write was in a job's life: creation, a status change, or the item it wrote."""
        if self.item_kind != "job":
            return f"{self.item_kind} item"
        if self.failed:
            return "condition failed"
        if self.before_status is None:
            return f"create ({self.after_status})"
        if self.before_status == self.after_status:
            return f"update ({self.after_status})"
        return f"{self.before_status} → {self.after_status}"


@dataclass
class Ledger:
    writes: list[Write] = field(default_factory=list)
    read_units: float = 0.0

    def add(self, other: Ledger) -> None:
        self.writes += other.writes
        self.read_units += other.read_units

    @property
    def write_units(self) -> float:
        return sum(w.total for w in self.writes)

    def by_step(self) -> dict[str, dict[str, float]]:
        """Units by step, then by ``table`` and index name (first-seen order of steps)."""
        steps: dict[str, dict[str, float]] = {}
        for w in self.writes:
            row = steps.setdefault(w.step, defaultdict(float))
            row[TABLE] += w.table_units
            for index, n in w.index_units.items():
                if n:
                    row[index] += n
        return {step: dict(row) for step, row in steps.items()}

    def items(self) -> list[str]:
        """The partition key values of the table's items the writes touched, in first-seen order."""
        return list(dict.fromkeys(k.key for w in self.writes for k in w.keys if k.index == TABLE))

    def by_key(self) -> dict[tuple[str, str], float]:
        """Units by (index or ``table``, partition key value)."""
        totals: dict[tuple[str, str], float] = defaultdict(float)
        for w in self.writes:
            for k in w.keys:
                totals[(k.index, k.key)] += k.units
        return dict(totals)


def item_kind(key: Item, item: Item | None) -> str:
    pk = str(key.get("pk", {}).get("S", ""))
    if item is not None and "job_id" in item:
        return "job"
    for prefix, kind in (("b#", "body"), ("k#", "bulk"), ("idem#", "marker")):
        if pk.startswith(prefix):
            return kind
    return "job" if pk and "#" not in pk and item is None else "other"


def _status(item: Item | None) -> str | None:
    if item is None or "job_id" not in item:
        return None
    return str(item.get("status", {}).get("S")) if "status" in item else None


def _pk_value(item: Item, attribute: str) -> str:
    ((_, raw),) = item[attribute].items()
    return str(raw)


def index_keys(index: Index, before: Item | None, after: Item | None, table_keys: tuple[str, ...]) -> list[KeyUnits]:
    """The index's entry writes as units on partition key values."""
    old, new = index.entry(before, table_keys), index.entry(after, table_keys)
    partition = index.keys[0]
    if old is None and new is None:
        return []
    if old is None and new is not None:
        return [KeyUnits(index.name, _pk_value(new, partition), units(item_size(new)))]
    if new is None and old is not None:
        return [KeyUnits(index.name, _pk_value(old, partition), units(item_size(old)))]
    assert old is not None and new is not None
    if any(old.get(k) != new.get(k) for k in index.keys):
        return [
            KeyUnits(index.name, _pk_value(old, partition), units(item_size(old))),
            KeyUnits(index.name, _pk_value(new, partition), units(item_size(new))),
        ]
    if old != new:
        return [KeyUnits(index.name, _pk_value(new, partition), units(item_size(new)))]
    return []


def write_of(
    action: str,
    key: Item,
    before: Item | None,
    after: Item | None,
    *,
    indexes: Sequence[Index],
    table_keys: tuple[str, ...],
    request_item: Item | None = None,
    transaction: bool = False,
    failed: bool = False,
) -> Write:
    """One item's write, from its two images (``after`` is ``before`` when the condition failed)."""
    sizes = [item_size(i) for i in (before, after, request_item) if i is not None]
    table_units = float(units(max(sizes) if sizes else 1)) * (2 if transaction else 1)
    pk = _pk_value(key, table_keys[0])
    keys = [KeyUnits(TABLE, pk, table_units)]
    index_units: dict[str, float] = {}
    if not failed:
        for index in indexes:
            entries = index_keys(index, before, after, table_keys)
            index_units[index.name] = float(sum(e.units for e in entries))
            keys += entries
    return Write(
        action=action,
        item_kind=item_kind(key, after or before),
        before_status=_status(before),
        after_status=_status(after),
        table_units=table_units,
        index_units=index_units,
        keys=tuple(keys),
        failed=failed,
    )


def wire(value: Any) -> Any:
    """DynamoDB JSON as the request log has it (binary values in base64) from an SDK value (bytes)."""
    if isinstance(value, dict):
        if len(value) == 1 and "B" in value and isinstance(value["B"], bytes | bytearray):
            return {"B": base64.b64encode(bytes(value["B"])).decode()}
        if len(value) == 1 and "BS" in value:
            return {
                "BS": [
                    base64.b64encode(bytes(v)).decode() if isinstance(v, bytes | bytearray) else v for v in value["BS"]
                ]
            }
        return {k: wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


def sdk(value: Any) -> Any:
    """The reverse of ``wire``: what a boto3 client takes (it base64-encodes bytes itself)."""
    if isinstance(value, dict):
        if len(value) == 1 and "B" in value and isinstance(value["B"], str):
            return {"B": base64.b64decode(value["B"])}
        if len(value) == 1 and "BS" in value:
            return {"BS": [base64.b64decode(v) if isinstance(v, str) else v for v in value["BS"]]}
        return {k: sdk(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sdk(v) for v in value]
    return value


def read_units(size: int, *, consistent: bool) -> float:
    whole = max(1, math.ceil(size / (4 * KB)))
    return float(whole) if consistent else whole / 2


class Replayer:
    """A fresh moto DynamoDB with the template's tables under the recorded names."""

    def __init__(self, client: Any, names: Mapping[str, str]) -> None:
        """``client``: a DynamoDB client inside ``moto.mock_aws``; ``names``: logical -> physical table name."""
        self._client = client
        self._indexes: dict[str, tuple[tuple[str, ...], list[Index]]] = {}
        for logical, physical in names.items():
            self._indexes[physical] = table_indexes(logical)

    def _key_of(self, table: str, item: Item) -> dict[str, Any]:
        table_keys, _ = self._indexes[table]
        return {k: item[k] for k in table_keys}

    def _get(self, table: str, key: Item) -> dict[str, Any] | None:
        found = self._client.get_item(TableName=table, Key=sdk(dict(key)), ConsistentRead=True).get("Item")
        return wire(found) if found is not None else None

    def _write(
        self,
        action: str,
        table: str,
        key: Item,
        call: Any,
        *,
        request_item: Item | None = None,
        transaction: bool = False,
    ) -> Write:
        table_keys, indexes = self._indexes[table]
        before = self._get(table, key)
        failed = False
        try:
            call()
        except self._client.exceptions.ConditionalCheckFailedException:
            failed = True
        after = before if failed else self._get(table, key)
        return write_of(
            action,
            key,
            before,
            after,
            indexes=indexes,
            table_keys=table_keys,
            request_item=request_item,
            transaction=transaction,
            failed=failed,
        )

    def stored(self, table: str, partition_keys: Iterable[str]) -> int:
        """Bytes DynamoDB stores for these items as the replay left them: each item and
        its index entries, with 100 bytes of overhead each (``cost.stored_bytes``)."""
        table_keys, indexes = self._indexes[table]
        if len(table_keys) != 1:
            raise ValueError(f"{table}: only a table keyed by its partition key alone is measured")
        total = 0
        for value in partition_keys:
            item = self._get(table, {table_keys[0]: {"S": value}})
            if item is not None:
                total += stored_bytes(item, table_keys, indexes)
        return total

    def query_units(self, table: str, index_name: str, partitions: Sequence[str]) -> float:
        """Read units of one eventually consistent Query of each partition, read whole:
        the entries' sizes summed, per started 4 KB, halved."""
        table_keys, indexes = self._indexes[table]
        index = next(i for i in indexes if i.name == index_name)
        sizes: dict[str, int] = dict.fromkeys(partitions, 0)
        pages = self._client.get_paginator("scan").paginate(TableName=table)
        for page in pages:
            for raw in page.get("Items", []):
                item = wire(raw)
                entry = index.entry(item, table_keys)
                if entry is not None and _pk_value(entry, index.keys[0]) in sizes:
                    sizes[_pk_value(entry, index.keys[0])] += item_size(entry)
        return sum(read_units(size, consistent=False) for size in sizes.values())

    def replay(
        self, requests: Iterable[tuple[str, Mapping[str, Any]]], *, tables: Iterable[str] | None = None
    ) -> Ledger:
        """Apply ``(action, request body)`` in order; the writes (and reads) on ``tables`` (default: all)."""
        wanted = set(tables) if tables is not None else set(self._indexes)
        ledger = Ledger()
        for action, body in requests:
            for write in self._apply(action, body):
                if write[0] in wanted and write[1] is not None:
                    ledger.writes.append(write[1])
            if action in READ_ACTIONS:
                ledger.read_units += self._reads(action, body, wanted)
        return ledger

    def _reads(self, action: str, body: Mapping[str, Any], wanted: set[str]) -> float:
        total = 0.0
        if action == "GetItem" and body.get("TableName") in wanted:
            found = self._get(str(body["TableName"]), body["Key"])
            total += read_units(item_size(found) if found else 0, consistent=bool(body.get("ConsistentRead")))
        if action == "BatchGetItem":
            for table, request in (body.get("RequestItems") or {}).items():
                if table not in wanted:
                    continue
                for key in request.get("Keys", []):
                    found = self._get(table, key)
                    # Each item is rounded up to 4 KB on its own in a batch.
                    total += read_units(
                        item_size(found) if found else 0, consistent=bool(request.get("ConsistentRead"))
                    )
        return total

    def _apply(self, action: str, body: Mapping[str, Any]) -> list[tuple[str, Write | None]]:
        if action in ("PutItem", "UpdateItem", "DeleteItem"):
            return self._single(action, body)
        if action == "BatchWriteItem":
            return self._batch(body)
        if action == "TransactWriteItems":
            return self._transact(body)
        return []

    def _single(self, action: str, body: Mapping[str, Any]) -> list[tuple[str, Write | None]]:
        c, table = self._client, str(body["TableName"])
        if table not in self._indexes:
            return []
        args = sdk({k: body[k] for k in _PASSED if k in body})
        if action == "PutItem":
            item = body["Item"]
            return [
                (
                    table,
                    self._write(
                        action, table, self._key_of(table, item), lambda: c.put_item(**args), request_item=item
                    ),
                )
            ]
        if action == "UpdateItem":
            return [(table, self._write(action, table, body["Key"], lambda: c.update_item(**args)))]
        return [(table, self._write(action, table, body["Key"], lambda: c.delete_item(**args)))]

    def _batch(self, body: Mapping[str, Any]) -> list[tuple[str, Write | None]]:
        c = self._client
        out: list[tuple[str, Write | None]] = []
        for table, requests in (body.get("RequestItems") or {}).items():
            if table not in self._indexes:
                continue
            for request in requests:
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]
                    key = self._key_of(table, item)
                    put = lambda t=table, i=item: c.put_item(TableName=t, Item=sdk(i))  # noqa: E731
                    out.append((table, self._write("BatchWriteItem", table, key, put, request_item=item)))
                elif "DeleteRequest" in request:
                    key = request["DeleteRequest"]["Key"]
                    delete = lambda t=table, k=key: c.delete_item(TableName=t, Key=sdk(k))  # noqa: E731
                    out.append((table, self._write("BatchWriteItem", table, key, delete)))
        return out

    def _transact(self, body: Mapping[str, Any]) -> list[tuple[str, Write | None]]:
        """A transaction replayed as one (all or nothing), then each item's images compared."""
        c = self._client
        touched: list[tuple[str, dict[str, Any], Item | None]] = []
        for operation in body.get("TransactItems", []):
            ((kind, spec),) = operation.items()
            table = str(spec["TableName"])
            if table not in self._indexes:
                continue
            if kind == "ConditionCheck":
                continue
            item = spec.get("Item")
            key = self._key_of(table, item) if item is not None else dict(spec["Key"])
            touched.append((table, key, item))
        befores = [self._get(table, key) for table, key, _ in touched]
        failed = False
        try:
            c.transact_write_items(TransactItems=sdk(list(body.get("TransactItems", []))))
        except c.exceptions.TransactionCanceledException:
            failed = True
        out: list[tuple[str, Write | None]] = []
        for (table, key, item), before in zip(touched, befores, strict=True):
            table_keys, indexes = self._indexes[table]
            after = before if failed else self._get(table, key)
            out.append(
                (
                    table,
                    write_of(
                        "TransactWriteItems",
                        key,
                        before,
                        after,
                        indexes=indexes,
                        table_keys=table_keys,
                        request_item=item,
                        transaction=True,
                        failed=failed,
                    ),
                )
            )
        return out


_PASSED = (
    "TableName",
    "Key",
    "Item",
    "UpdateExpression",
    "ConditionExpression",
    "ExpressionAttributeNames",
    "ExpressionAttributeValues",
)
