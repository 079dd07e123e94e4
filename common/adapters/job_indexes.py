"""The jobs table's indexes read: one partition (or a range of it) newest
first, and the groups of a partition whose sort keys are ``<group><job id>``
(docs/storage.md, sections 4, 5 and 8). Each entry holds the index's keys and
projected attributes, never a job's other fields (``JobStore.fetch_many``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters import index_keys
from common.adapters.attribute_values import deserialize, serialize
from common.adapters.dynamo import TableAdapter, storage_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def query_partition(
    client: DynamoDBClient,
    table: str,
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
    partition_attr, sort_attr = index_keys.INDEXES[index]
    kwargs: dict[str, Any] = {
        "TableName": table,
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
        response = client.query(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise storage_error(f"Query ({index})", exc) from exc
    return [deserialize(item) for item in response.get("Items", [])], response.get("LastEvaluatedKey") or None


class JobIndexes(TableAdapter):
    """The log's Queries (``common.logic.listing``, ``reputation``, a bulk cancel)."""

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
        """``query_partition`` of this table."""
        return query_partition(self._client, self._table, index, key, low=low, high=high, limit=limit, start=start)

    def sort_key_groups(self, index: str, key: str, *, id_chars: int) -> list[str]:
        """The distinct ``<group>`` parts of a partition whose sort keys are
        ``<group><job id>`` (``id_chars`` long), greatest first: a skip scan, one
        Query of one entry per group and one more that finds none."""
        partition_attr, sort_attr = index_keys.INDEXES[index]
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
