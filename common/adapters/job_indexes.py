"""The jobs table's indexes read: one partition (or a range of it) newest
first, and the groups of a partition whose sort keys are ``<group><job id>``
(docs/storage.md, sections 4, 5 and 8). Each entry holds the index's keys and
projected attributes, never a job's other fields (``JobStore.fetch_many``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
        heads, _queries = self.group_heads(index, key, id_chars=id_chars, per_group=1)
        return [group.prefix for group in heads]

    def group_heads(
        self,
        index: str,
        key: str,
        *,
        id_chars: int,
        per_group: int,
        low: str | None = None,
        high: str | None = None,
        skip: Callable[[str], str] | None = None,
    ) -> tuple[list[GroupHead], int]:
        """The groups of a partition whose sort keys are ``<group><job id>``
        (``id_chars`` long), greatest first, each with its newest entries whose
        job id is between ``low`` and ``high``: a skip scan whose Queries ask
        for ``per_group`` entries, so each also reads the head of the group it
        finds (and of the next ones, when a group holds fewer). After each
        Query the rest of its last group is skipped (``< group``): at most one
        Query per group and one more. ``GroupHead.read_below``: the last job id
        read of a group not read to its end (``None``: read to its end).
        ``skip``: what to skip after a group instead of the group itself (a
        shorter prefix: the rest of its domain). With the heads: the Queries made."""
        partition_attr, sort_attr = index_keys.INDEXES[index]
        heads: list[GroupHead] = []
        bound: str | None = None
        queries = 0
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": index,
                "KeyConditionExpression": "#p = :p",
                "ExpressionAttributeNames": {"#p": partition_attr},
                "ExpressionAttributeValues": serialize({":p": key}),
                "ScanIndexForward": False,
                "Limit": per_group,
            }
            if bound is not None:  # every sort key of a group is longer than, so above, the group itself
                kwargs["KeyConditionExpression"] += " AND #s < :below"
                kwargs["ExpressionAttributeNames"]["#s"] = sort_attr
                kwargs["ExpressionAttributeValues"] |= serialize({":below": bound})
            try:
                response = self._client.query(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                raise storage_error(f"Query ({index})", exc) from exc
            queries += 1
            items = [deserialize(item) for item in response.get("Items") or []]
            if not items:
                return heads, queries
            for i, item in enumerate(items):
                sort_key = str(item[sort_attr])
                prefix, job_id = sort_key[:-id_chars], sort_key[-id_chars:]
                if i == 0 or heads[-1].prefix != prefix:
                    if i > 0:
                        heads[-1].read_below = None  # a later group follows in this answer: read to its end
                    heads.append(GroupHead(prefix))
                head = heads[-1]
                head.read_below = job_id
                if (low is None or job_id >= low) and (high is None or job_id <= high):
                    head.entries.append(item)
                elif low is not None and job_id < low:
                    head.below_range = True
            if not response.get("LastEvaluatedKey"):
                heads[-1].read_below = None
                return heads, queries
            bound = skip(heads[-1].prefix) if skip is not None else heads[-1].prefix


class GroupHead:
    """One group of a partition (``JobIndexes.group_heads``): its sort key
    prefix, its newest entries in range, and where its reading stopped."""

    __slots__ = ("below_range", "entries", "prefix", "read_below")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.entries: list[dict[str, Any]] = []
        self.read_below: str | None = None  # the last job id read, while more may follow
        self.below_range = False  # an entry older than the range was read: nothing more is in it

    @property
    def complete(self) -> bool:
        """Nothing of the range is left to read in this group."""
        return self.read_below is None or self.below_range
