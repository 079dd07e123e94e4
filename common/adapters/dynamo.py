"""What every adapter of the jobs table shares: AWS's batch limits, the one
translation of botocore's errors, the back-off between retries of unprocessed
items, BatchGetItem with those retries, and conditional writes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters.botocore_errors import error_code, error_name
from common.models.errors import StorageError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

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
