"""A domain's records in time order: the sparse index ``ByDomainRecord``
(docs/storage.md, section 5). Its partition key ``lk`` is ``<kind>#<domain>``
(``a``: audit entries, ``k``: bulk items), its sort key ``ls`` a ULID (the
entry's id, the bulk's id): a descending Query lists a domain's records of one
kind newest first. Only those two kinds of item carry ``lk``; jobs never do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from common.adapters.attribute_values import deserialize
from common.adapters.dynamo import newest_first

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
    start = None if after is None else {"lk": {"S": lk}, "ls": {"S": after.ls}, "pk": {"S": after.pk}}
    raw = newest_first(client, table, RECORD_INDEX, ("lk", lk), wanted=limit + 1, start=start, operation=operation)
    found = [deserialize(item) for item in raw]
    if len(found) <= limit:
        return found, None
    last = found[limit - 1]
    return found[:limit], RecordPosition(ls=str(last["ls"]), pk=str(last["pk"]))
