"""A domain's records in time order: the sparse index ``ByDomainRecord``
(docs/storage.md, section 5). Its partition key ``lk`` is ``<kind>#<domain>``
(``a``: audit entries, ``k``: bulk items), its sort key ``ls`` a ULID (the
entry's id, the bulk's id): a descending Query lists a domain's records of one
kind newest first. Only those two kinds of item carry ``lk``; jobs never do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters.attribute_values import deserialize
from common.adapters.dynamo import storage_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RECORD_INDEX = "ByDomainRecord"
AUDIT_KIND = "a"
BULK_KIND = "k"


def record_lk(kind: str, domain: str) -> str:
    return f"{kind}#{domain}"


class RecordPosition(NamedTuple):
    """Where a page of a domain's records starts: strictly after this record
    (its sort key and its item's key)."""

    ls: str
    pk: str


def page_records(
    client: DynamoDBClient,
    table: str,
    lk: str,
    *,
    limit: int,
    after: RecordPosition | None = None,
    operation: str,
) -> tuple[list[dict[str, Any]], RecordPosition | None]:
    """Up to ``limit`` records of the partition ``lk``, newest first, after
    ``after`` (deserialized items); and the position of the last one returned
    when more follow. ``limit + 1`` are read, so the last page says it is the
    last: one Query for a page (more only if DynamoDB's 1 MB cut one short)."""
    wanted = limit + 1
    found: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    if after is not None:
        start = {"lk": {"S": lk}, "ls": {"S": after.ls}, "pk": {"S": after.pk}}
    while len(found) < wanted:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": RECORD_INDEX,
            "KeyConditionExpression": "lk = :lk",
            "ExpressionAttributeValues": {":lk": {"S": lk}},
            "ScanIndexForward": False,
            "Limit": wanted - len(found),
        }
        if start is not None:
            kwargs["ExclusiveStartKey"] = start
        try:
            response = client.query(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(operation, exc) from exc
        found += [deserialize(item) for item in response.get("Items", [])]
        start = response.get("LastEvaluatedKey")
        if not start:
            break
    if len(found) <= limit:
        return found, None
    last = found[limit - 1]
    return found[:limit], RecordPosition(ls=str(last["ls"]), pk=str(last["pk"]))
