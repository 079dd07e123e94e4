"""``GET /bulks``: a domain's bulk sends, newest first, each with its progress
as ``GET /bulks/{bulk_id}`` answers it (docs/api.md; docs/storage.md, section 9).

A page is one Query of ``ByDomainRecord`` (partition ``k#<domain>``, the
bulk items' fields projected, ``limit + 1`` read so the last page says it is
the last), then each bulk's counts from its four ``ByBulk``
shards (``common.logic.listing.progress_of``), ``COUNT_CONCURRENCY`` bulks at
a time: 1 + 4 x ``limit`` Queries for bulks of up to 4,000 jobs (81 for the
default page of 20, 401 for 100). The cursor is signed and names the domain
(``RecordCursors``): altered, or of another domain, 400 ``invalid_cursor``.
Bulk sends made before version 3 have no ``ByDomainRecord`` entry and are not
listed (each is still served by ``GET /bulks/{bulk_id}``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from common.adapters.bulks import Bulks
from common.adapters.job_indexes import JobIndexes
from common.logic.listing import progress_of
from common.logic.record_cursors import RecordCursors
from common.logic.threads import map_in_context
from common.models.listing import BulksPage, ListBulksQuery

if TYPE_CHECKING:
    from common.models.api import Caller

BULKS_CURSOR_PURPOSE = b"email-operations/bulks-cursor/v1\n"
# Bulks whose counts are read at once (4 Queries each; botocore keeps 10 connections per client).
COUNT_CONCURRENCY = 8


def list_bulks(
    query: ListBulksQuery,
    caller: Caller,
    *,
    bulks: Bulks,
    indexes: JobIndexes,
    cursors: Callable[[], RecordCursors],
) -> BulksPage:
    """One page of the domain's bulk sends, newest first. ``cursors`` is
    called only when a cursor is read or made (it reads the key)."""
    caller.require(query.domain)
    after = cursors().decode(query.cursor, domain=query.domain) if query.cursor else None
    items, last = bulks.page(query.domain, limit=query.limit, after=after)
    if len(items) <= 1:
        progress = [progress_of(item, indexes) for item in items]
    else:
        with ThreadPoolExecutor(max_workers=min(COUNT_CONCURRENCY, len(items))) as pool:
            progress = list(map_in_context(pool, lambda item: progress_of(item, indexes), items))
    next_cursor = cursors().encode(query.domain, last) if last is not None else None
    return BulksPage(items=progress, next_cursor=next_cursor)
