"""What every adapter of the jobs table shares: AWS's batch limits, the one
translation of botocore's errors, the back-off between retries of unprocessed
items, BatchGetItem and BatchWriteItem with those retries, conditional writes,
a partition read newest first (the paged lists of records and suppressions),
and ``TableAdapter``, the base of each adapter of the table (its client, its
name, and how long its items live).

One table, several adapters, one per kind of item or path (docs/architecture.md):
``job_store`` (jobs written and read), ``job_indexes`` (the log's Queries),
``job_claims`` (a worker's claim and its outcome), ``status_moves`` (settle,
cancel), ``in_flight`` (the sweeper's), ``bulks``, ``ses_event_writes`` and
``idempotency_markers``; ``bodies`` and ``suppressions`` keep their items too.
Each is a small class over this module, so whoever changes one path reads one
module."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters.botocore_errors import error_code, error_name
from common.models.clock import epoch_seconds
from common.models.errors import StorageError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

BATCH_WRITE_LIMIT = 25  # AWS: at most 25 requests per BatchWriteItem
BATCH_GET_LIMIT = 100  # AWS: at most 100 keys per BatchGetItem
UNPROCESSED_RETRIES = 8  # rounds of a batch's unprocessed items before it fails


def storage_error(operation: str, exc: ClientError | BotoCoreError) -> StorageError:
    """The one translation of what botocore raised (after its own retries)."""
    return StorageError(f"{operation} failed: {error_name(exc)}")


def backoff(attempt: int) -> None:
    """The pause before round ``attempt + 1`` of a batch's unprocessed items."""
    time.sleep(min(0.05 * (2**attempt), 2.0))


def conditionally(operation: str, write: Callable[[], object]) -> bool:
    """Make one conditional write: True when it was made, False when its condition
    failed (the one place a ``ConditionalCheckFailedException`` becomes False)."""
    try:
        write()
    except (ClientError, BotoCoreError) as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise storage_error(operation, exc) from exc
    return True


def update_or_old(operation: str, update: Callable[[], Mapping[str, Any]]) -> tuple[bool, Mapping[str, Any]]:
    """Make one conditional UpdateItem asked for ``ReturnValues="ALL_NEW"`` and
    ``ReturnValuesOnConditionCheckFailure="ALL_OLD"``: ``(True, the item after
    it)``, or ``(False, the item as found)`` when its condition failed (``{}``
    when there is no item)."""
    try:
        response = update()
    except (ClientError, BotoCoreError) as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise storage_error(operation, exc) from exc
        old: Mapping[str, Any] = exc.response.get("Item") or {}  # type: ignore[union-attr,assignment]
        return False, old
    return True, response["Attributes"]


# The cancellation reasons of a TransactWriteItems that another try may not
# meet (DynamoDB API reference, TransactWriteItems, TransactionCanceledException:
# None, ConditionalCheckFailed, ItemCollectionSizeLimitExceeded,
# TransactionConflict, ProvisionedThroughputExceeded, ThrottlingError,
# ValidationError): a concurrent request on one of its items, and capacity.
# The others are the same on every try (a ConditionalCheckFailed of the
# marker is a key seen before, read from the answer).
RETRYABLE_CANCELLATIONS = frozenset({"None", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def refusals(reasons: Sequence[Mapping[str, Any]], names: Sequence[str]) -> str:
    """The reasons a canceled transaction's items give that trying again cannot
    change, each with its item's name (``names``, in the transaction's order):
    ``"job: ValidationError"``; "" when every reason may pass. Codes only:
    DynamoDB's messages may quote the item."""
    found = []
    for n, reason in enumerate(reasons):
        code = str(reason.get("Code") or "None")
        if code not in RETRYABLE_CANCELLATIONS:
            found.append(f"{names[n] if n < len(names) else f'item {n + 1}'}: {code}")
    return ", ".join(found)


def transact(
    client: DynamoDBClient, items: Sequence[TransactWriteItemTypeDef], *, operation: str, names: Sequence[str]
) -> Mapping[str, Any] | None:
    """Make one TransactWriteItems whose first item is an action's conditional
    write (the others, such as its audit entry, unconditional): ``None`` when
    it was made; when the first item's condition failed, its cancellation
    reason (with the item as found, if the write asked for it), and nothing
    was written. A conflict with another transaction, or throttling, is tried
    again (``backoff``); any other refusal is a ``StorageError``."""
    for attempt in range(UNPROCESSED_RETRIES):
        try:
            client.transact_write_items(TransactItems=list(items))
            return None
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise storage_error(operation, exc) from exc
            reasons: Sequence[Mapping[str, Any]] = exc.response.get("CancellationReasons") or []  # type: ignore[union-attr]
            first = reasons[0] if reasons else {}
            if first.get("Code") == "ConditionalCheckFailed":
                return first
            refused = refusals(reasons, names)
            if refused:
                raise StorageError(f"{operation} refused: {refused}") from None
            backoff(attempt)
    raise StorageError(f"{operation} kept conflicting")


def batch_get(
    client: DynamoDBClient,
    table: str,
    keys: Sequence[Mapping[str, Any]],
    *,
    operation: str,
    consistent: bool = True,
    projection: str | None = None,
    names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The raw items of up to 100 ``keys`` of ``table`` that exist: one
    BatchGetItem (AWS's limit, asserted here: moto accepts more), and again
    for what comes back unprocessed, with ``backoff`` between rounds; a
    ``StorageError`` after ``UNPROCESSED_RETRIES`` rounds."""
    if len(keys) > BATCH_GET_LIMIT:
        raise ValueError(f"BatchGetItem takes at most {BATCH_GET_LIMIT} keys")
    wanted: dict[str, Any] = {"Keys": list(keys), "ConsistentRead": consistent}
    if projection is not None:
        wanted["ProjectionExpression"] = projection
    if names:
        wanted["ExpressionAttributeNames"] = dict(names)
    request: dict[str, Any] = {table: wanted}
    found: list[dict[str, Any]] = []
    for attempt in range(UNPROCESSED_RETRIES):
        try:
            response = client.batch_get_item(RequestItems=request)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(operation, exc) from exc
        found += response.get("Responses", {}).get(table, [])
        unprocessed = (response.get("UnprocessedKeys") or {}).get(table)
        if not unprocessed or not unprocessed.get("Keys"):
            return found
        request = {table: unprocessed}
        backoff(attempt)
    raise StorageError(f"{operation} left {len(request[table]['Keys'])} keys unprocessed")


def newest_first(
    client: DynamoDBClient,
    table: str,
    index: str,
    key: tuple[str, str],
    *,
    wanted: int,
    start: Mapping[str, Any] | None,
    operation: str,
) -> list[dict[str, Any]]:
    """Up to ``wanted`` items (as stored) of one partition of ``index`` (``key``:
    its key's name and value), newest first, after ``start`` (an
    ``ExclusiveStartKey``). One Query, more only where DynamoDB's 1 MB cut one
    short; a caller that asks one more than it shows knows whether more follow."""
    name, value = key
    found: list[dict[str, Any]] = []
    while len(found) < wanted:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": index,
            "KeyConditionExpression": f"{name} = :key",
            "ExpressionAttributeValues": {":key": {"S": value}},
            "ScanIndexForward": False,
            "Limit": wanted - len(found),
        }
        if start:
            kwargs["ExclusiveStartKey"] = start
        try:
            response = client.query(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(operation, exc) from exc
        found += response.get("Items", [])
        start = response.get("LastEvaluatedKey")
        if not start:
            break
    return found


def batch_write(client: DynamoDBClient, table: str, requests: list[Any]) -> None:
    """Up to 25 put or delete ``requests`` on ``table``: one BatchWriteItem
    (AWS's limit, asserted here: moto accepts more), and again for what comes
    back unprocessed, with ``backoff`` between rounds; a ``StorageError`` after
    ``UNPROCESSED_RETRIES`` rounds."""
    if len(requests) > BATCH_WRITE_LIMIT:
        raise ValueError(f"BatchWriteItem takes at most {BATCH_WRITE_LIMIT} requests")
    pending: dict[str, list[Any]] = {table: requests}
    for attempt in range(UNPROCESSED_RETRIES):
        try:
            response = client.batch_write_item(RequestItems=pending)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("BatchWriteItem", exc) from exc
        unprocessed = response.get("UnprocessedItems") or {}
        if not unprocessed.get(table):
            return
        pending = {table: list(unprocessed[table])}
        backoff(attempt)
    raise StorageError(f"BatchWriteItem left {len(pending[table])} items unprocessed")


class TableAdapter:
    """The base of every adapter of the jobs table: the client, the table's
    name, and ``RetentionDays``, how long a job (and what it uses) is kept."""

    def __init__(self, client: DynamoDBClient, table_name: str, *, retention_days: int = 90) -> None:
        self._client = client
        self._table = table_name
        self._retention = timedelta(days=retention_days)

    def expires_at(self, created_at: datetime) -> int:
        """The TTL (epoch seconds) of a job created at ``created_at``, and of its body."""
        return epoch_seconds(created_at + self._retention)
