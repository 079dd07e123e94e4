"""DynamoDB's limits, in the embedded DynamoDB (moto 5.2.5) as DynamoDB applies them.

What moto does not do by itself, and this module makes it do (docs/local-stack.md,
"AWS's limits, enforced here", names each source):

- **Item size**, measured by DynamoDB's rules (developer guide, "DynamoDB item
  sizes and formats"): attribute names and values in UTF-8 bytes, a number 1
  byte per two significant digits plus 1, a binary value its raw bytes, a
  boolean or null 1 byte, a list or map 3 bytes plus 1 per element. Over
  400 KB (409,600 bytes) a ``PutItem`` (or a put of ``BatchWriteItem`` or
  ``TransactWriteItems``) is refused with ``ValidationException`` "Item size
  has exceeded the maximum allowed size", an ``UpdateItem`` whose result
  would be over it with "Item size to update has exceeded the maximum allowed
  size". moto measured otherwise (a number by its characters, no list or map
  overhead) and checked at 405,000 of its bytes.
- **A failed write changes nothing.** moto applies an ``UpdateItem``'s actions
  to the stored item one by one, so one that fails half-way (its size, a
  type error) left the first actions applied; a ``BatchWriteItem`` wrote its
  requests one by one, so one refused request left those before it written.
  Both are undone here: DynamoDB either applies a write whole or not at all.
- **Batch and transaction sizes**: ``BatchWriteItem`` 25 requests and 16 MB,
  a put and a delete of one item in one batch refused (moto accepted any
  number, and both); ``TransactGetItems`` 100 items (moto still refused more
  than 25, AWS's limit before 2022) and ``TransactWriteItems``/``TransactGetItems``
  4 MB of items together; an item grown too large by a transaction cancels it
  (``TransactionCanceledException``, reason ``ValidationError``), as
  DynamoDB's API reference says.
- **Expressions** (update, condition, key condition, filter, projection): at
  most 4 KB each (DynamoDB developer guide, "Constraints in Amazon DynamoDB",
  expression parameters; its sizes are binary: 1 KB = 1,024 bytes).

``BatchGetItem``'s 100 keys are moto's own check; its 16 MB answer and the
1 MB page of ``Query``/``Scan`` use moto's accounting, which now measures items
by the same rules.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import importlib
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

# DynamoDB's constraints ("Constraints in Amazon DynamoDB"; 1 KB = 1,024 bytes there).
MAX_ITEM_BYTES = 400 * 1024
MAX_BATCH_WRITE_REQUESTS = 25
MAX_BATCH_WRITE_BYTES = 16 * 1024 * 1024
MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
MAX_EXPRESSION_BYTES = 4 * 1024
LIST_OR_MAP_OVERHEAD = 3  # "An attribute of type List or Map requires 3 bytes of overhead"
ELEMENT_OVERHEAD = 1  # "Each List or Map element also requires 1 byte of overhead"

ITEM_TOO_LARGE = "Item size has exceeded the maximum allowed size"
UPDATE_TOO_LARGE = "Item size to update has exceeded the maximum allowed size"
_EXPRESSIONS = ("UpdateExpression", "ConditionExpression", "KeyConditionExpression", "FilterExpression")
_EXPRESSIONS_WITH_PROJECTION = (*_EXPRESSIONS, "ProjectionExpression")


# ------------------------------------------------------------------ sizes
def number_size(text: str) -> int:
    """A number's size: 1 byte per two significant digits (leading and
    trailing zeroes trimmed), plus 1 byte."""
    mantissa = text.strip().lstrip("+-").lower().partition("e")[0]
    significant = mantissa.replace(".", "").strip("0")
    return (len(significant) + 1) // 2 + 1


def _binary_size(value: Any) -> int:
    """A binary value's raw bytes (it travels in base64)."""
    if isinstance(value, bytes | bytearray):
        return len(value)
    try:
        return len(base64.b64decode(str(value), validate=True))
    except (binascii.Error, ValueError):
        return len(str(value).encode())


def _unpack(value: Any) -> tuple[str, Any]:
    """(type, data) of an attribute value: a JSON ``{"S": ...}`` or moto's ``DynamoType``."""
    if isinstance(value, Mapping):
        ((kind, data),) = value.items()
        return str(kind), data
    return str(value.type), value.value


def value_size(value: Any) -> int:
    """An attribute value's size by DynamoDB's rules (its name not included)."""
    kind, data = _unpack(value)
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        return number_size(str(data))
    if kind == "B":
        return _binary_size(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(member).encode()) for member in data)
    if kind == "NS":
        return sum(number_size(str(member)) for member in data)
    if kind == "BS":
        return sum(_binary_size(member) for member in data)
    if kind == "L":
        return LIST_OR_MAP_OVERHEAD + sum(value_size(element) + ELEMENT_OVERHEAD for element in data)
    if kind == "M":
        return LIST_OR_MAP_OVERHEAD + sum(
            len(str(name).encode()) + value_size(element) + ELEMENT_OVERHEAD for name, element in data.items()
        )
    raise ValueError(f"not a DynamoDB attribute value type: {kind!r}")


def item_size(attributes: Mapping[str, Any]) -> int:
    """An item's size: each attribute's name (UTF-8 bytes) plus its value's size."""
    return sum(len(name.encode()) + value_size(value) for name, value in attributes.items())


# ------------------------------------------------------------------ transactions
class ValidationError(Exception):
    """Raised inside ``TransactWriteItems`` instead of moto's ``ValidationException``:
    moto lists an exception's class name as the item's cancellation reason code,
    and DynamoDB cancels the transaction with the reason ``ValidationError``."""


_state = threading.local()


def _in_transaction() -> bool:
    return bool(getattr(_state, "transaction", False))


@contextmanager
def _transaction() -> Iterator[None]:
    _state.transaction = True
    try:
        yield
    finally:
        _state.transaction = False


# ------------------------------------------------------------------ the patches
def _raise_too_large(message: str, error: Any) -> None:
    if _in_transaction():
        raise ValidationError(message)
    raise error()


def _key_of(table: Any, key: Mapping[str, Any], dynamo_type: Any) -> tuple[Any, Any] | None:
    """The stored item's (hash, range) for ``key``; ``None`` when ``key`` does not name one."""
    if table.hash_key_attr not in key:
        return None
    hash_value = dynamo_type(key[table.hash_key_attr])
    if table.range_key_attr is None:
        return hash_value, None
    if table.range_key_attr not in key:
        return None
    return hash_value, dynamo_type(key[table.range_key_attr])


class _Snapshot:
    """Items as they were before a write, put back if the write fails."""

    def __init__(self) -> None:
        self._saved: list[tuple[Any, Any, Any, Any]] = []

    def save(self, table: Any, hash_value: Any, range_value: Any) -> None:
        current = table.get_item(hash_value, range_value)
        self._saved.append((table, hash_value, range_value, copy.deepcopy(current)))

    def restore(self) -> None:
        for table, hash_value, range_value, before in reversed(self._saved):
            if range_value is None:
                if before is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = before
            elif before is None:
                table.items.get(hash_value, {}).pop(range_value, None)
            else:
                table.items[hash_value][range_value] = before


def _check_expressions(request: Mapping[str, Any], names: tuple[str, ...], exceptions: Any) -> None:
    for name in names:
        expression = request.get(name)
        if isinstance(expression, str) and len(expression.encode()) > MAX_EXPRESSION_BYTES:
            raise exceptions.MockValidationException(
                f"Invalid {name}: Expression size has exceeded the maximum allowed size; "
                f"expression size: {len(expression.encode())}"
            )


def _checked_action(handler: Any, action: str, check: Callable[[Any], None]) -> None:
    """Run ``check`` on the request before moto's ``action`` of ``handler``."""
    original = getattr(handler, action)

    @functools.wraps(original)
    def action_with_checks(self: Any) -> Any:
        check(self)
        return original(self)

    setattr(handler, action, action_with_checks)


def apply() -> None:
    """Patch moto's DynamoDB in this process (``local.limits.apply`` calls it once)."""
    moto: dict[str, Any] = {
        name: importlib.import_module(f"moto.dynamodb.{name}")
        for name in ("models", "models.dynamo_type", "responses", "exceptions")
    }
    dynamo_type = moto["models.dynamo_type"]
    # moto's own measure is not DynamoDB's: its per-attribute check goes, the
    # writes below measure whole items; its result-size accounting (BatchGetItem's
    # 16 MB, Query's and Scan's 1 MB pages) measures by DynamoDB's rules.
    dynamo_type.LimitedSizeDict.__setitem__ = dict.__setitem__
    dynamo_type.Item.size = lambda item: item_size(item.attrs)
    # TransactGetItems takes 100 items since 2022 (moto kept 25).
    moto["responses"].TRANSACTION_MAX_ITEMS = MAX_TRANSACTION_ITEMS
    _patch_writes(moto["models"].DynamoDBBackend, moto["exceptions"], dynamo_type)
    _patch_requests(moto["responses"].DynamoHandler, moto["exceptions"], dynamo_type)


def _patch_writes(backend: Any, exceptions: Any, dynamo_type: Any) -> None:
    """Item size on every put and update; an update applied whole or not at all."""
    put_item = backend.put_item

    @functools.wraps(put_item)
    def put_item_within_limits(self: Any, table_name: str, item: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if item_size(item) > MAX_ITEM_BYTES:
            _raise_too_large(ITEM_TOO_LARGE, exceptions.ItemSizeTooLarge)
        return put_item(self, table_name, item, *args, **kwargs)

    update_item = backend.update_item

    @functools.wraps(update_item)
    def update_item_whole_or_not(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        table = self.get_table(table_name)
        snapshot = _Snapshot()
        place = _key_of(table, key, dynamo_type.DynamoType)
        if place is not None:
            snapshot.save(table, *place)
        try:
            item = update_item(self, table_name, key, *args, **kwargs)
            if item is not None and item_size(item.attrs) > MAX_ITEM_BYTES:
                _raise_too_large(UPDATE_TOO_LARGE, exceptions.ItemSizeToUpdateTooLarge)
        except BaseException:
            snapshot.restore()
            raise
        return item

    backend.put_item = put_item_within_limits
    backend.update_item = update_item_whole_or_not
    _patch_transactions(backend, dynamo_type)


def _patch_transactions(backend: Any, dynamo_type: Any) -> None:
    """A transaction's rollback from the items it touches, not from a copy of
    every table it names: moto deep-copies each such table before each
    transaction (O(table) per call), which made every statistics flush
    (docs/adr/0084-statistics-counters.md) slower as the table grew. The items
    the transaction names are saved and put back when it fails, as DynamoDB
    leaves them; moto's copy is skipped (its tables share themselves while a
    transaction runs, and its rollback puts back the same tables)."""
    table_class = importlib.import_module("moto.dynamodb.models.table").Table

    def __deepcopy__(self: Any, memo: dict[int, Any]) -> Any:
        if getattr(_state, "sharing", False):
            return self
        made = self.__class__.__new__(self.__class__)
        memo[id(self)] = made
        for name, value in self.__dict__.items():
            setattr(made, name, copy.deepcopy(value, memo))
        return made

    table_class.__deepcopy__ = __deepcopy__
    transact_write_items = backend.transact_write_items

    @functools.wraps(transact_write_items)
    def transact_write_items_by_item(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        snapshot = _Snapshot()
        for entry in transact_items:
            for kind, operation in entry.items():
                table = self.tables.get(operation.get("TableName"))
                if table is None:
                    continue
                key = operation.get("Item") if kind == "Put" else operation.get("Key")
                place = _key_of(table, key or {}, dynamo_type.DynamoType)
                if place is not None:
                    snapshot.save(table, *place)
        _state.sharing = True
        try:
            return transact_write_items(self, transact_items)
        except BaseException:
            snapshot.restore()
            raise
        finally:
            _state.sharing = False

    backend.transact_write_items = transact_write_items_by_item


def _patch_requests(handler: Any, exceptions: Any, dynamo_type: Any) -> None:
    """Expression sizes, and the batch and transaction limits, checked on the request."""

    def check_expressions(self: Any) -> None:
        _check_expressions(self.body, _EXPRESSIONS_WITH_PROJECTION, exceptions)

    for action in ("put_item", "update_item", "delete_item", "get_item", "query", "scan"):
        _checked_action(handler, action, check_expressions)

    batch_write_item = handler.batch_write_item

    @functools.wraps(batch_write_item)
    def batch_write_item_whole_or_not(self: Any) -> Any:
        requests = self.body.get("RequestItems") or {}
        snapshot = _check_batch_write(self.dynamodb_backend, requests, exceptions, dynamo_type)
        try:
            return batch_write_item(self)
        except BaseException:
            snapshot.restore()
            raise

    transact_write_items = handler.transact_write_items

    @functools.wraps(transact_write_items)
    def transact_write_items_within_limits(self: Any) -> Any:
        items = self.body.get("TransactItems") or []
        if len(items) > MAX_TRANSACTION_ITEMS:
            raise exceptions.TooManyTransactionsException()
        total = 0
        for entry in items:
            for operation in entry.values():
                _check_expressions(operation, _EXPRESSIONS, exceptions)
                total += _request_bytes(operation)
        if total > MAX_TRANSACTION_BYTES:
            raise exceptions.MockValidationException(_transaction_too_large(total))
        with _transaction():
            return transact_write_items(self)

    transact_get_items = handler.transact_get_items

    @functools.wraps(transact_get_items)
    def transact_get_items_within_limits(self: Any) -> Any:
        items = self.body.get("TransactItems") or []
        if len(items) <= MAX_TRANSACTION_ITEMS:
            total = 0
            for entry in items:
                get = entry.get("Get") or {}
                _check_expressions(get, ("ProjectionExpression",), exceptions)
                found = self.dynamodb_backend.get_item(get.get("TableName"), get.get("Key") or {})
                total += item_size(found.attrs) if found is not None else 0
            if total > MAX_TRANSACTION_BYTES:
                raise exceptions.MockValidationException(_transaction_too_large(total))
        return transact_get_items(self)

    handler.batch_write_item = batch_write_item_whole_or_not
    handler.transact_write_items = transact_write_items_within_limits
    handler.transact_get_items = transact_get_items_within_limits


def _transaction_too_large(total: int) -> str:
    return (
        f"Transaction request cannot exceed the maximum aggregate item size of {MAX_TRANSACTION_BYTES} bytes;"
        f" items size: {total}"
    )


def _request_bytes(operation: Mapping[str, Any]) -> int:
    """What a transaction's action carries: its item (a put), or its key and values."""
    if "Item" in operation:
        return item_size(operation["Item"])
    size = item_size(operation.get("Key") or {})
    return size + sum(value_size(v) for v in (operation.get("ExpressionAttributeValues") or {}).values())


def _check_batch_write(backend: Any, request_items: Mapping[str, Any], exceptions: Any, dynamo_type: Any) -> _Snapshot:
    """Refuse a ``BatchWriteItem`` as DynamoDB does, before any of it is written;
    returns the snapshot of every item it may write."""
    total_requests = 0
    total_bytes = 0
    snapshot = _Snapshot()
    seen: set[tuple[str, Any, Any]] = set()
    for table_name, requests in request_items.items():
        if len(requests) > MAX_BATCH_WRITE_REQUESTS:
            raise exceptions.MockValidationException(
                f"1 validation error detected: Value at 'requestItems.{table_name}.member' failed to satisfy "
                f"constraint: Member must have length less than or equal to {MAX_BATCH_WRITE_REQUESTS}"
            )
        total_requests += len(requests)
    if total_requests > MAX_BATCH_WRITE_REQUESTS:
        raise exceptions.MockValidationException("Too many items requested for the BatchWriteItem call")
    for table_name, requests in request_items.items():
        table = backend.get_table(table_name)
        for request in requests:
            put = request.get("PutRequest")
            attributes = put["Item"] if put is not None else (request.get("DeleteRequest") or {}).get("Key") or {}
            size = item_size(attributes)
            if put is not None and size > MAX_ITEM_BYTES:
                raise exceptions.ItemSizeTooLarge()
            total_bytes += size
            place = _key_of(table, attributes, dynamo_type.DynamoType)
            if place is None:
                continue
            identity = (table_name, *place)
            if identity in seen:
                raise exceptions.MockValidationException("Provided list of item keys contains duplicates")
            seen.add(identity)
            snapshot.save(table, *place)
    if total_bytes > MAX_BATCH_WRITE_BYTES:
        raise exceptions.MockValidationException(
            f"Too much data in the BatchWriteItem request: {total_bytes} bytes of items, "
            f"at most {MAX_BATCH_WRITE_BYTES}"
        )
    return snapshot
