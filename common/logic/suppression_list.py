"""``GET /suppressions``: one domain's list (the caller's: 403 otherwise),
newest first, paged with a signed cursor that names the domain, so a cursor of
one domain never reads another's list (400 ``invalid_cursor``). Only the
suppressions function builds its models (docs/adr/0033-cold-starts.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from common.adapters.suppressions import PagePosition, SuppressionStore
from common.logic.signing import SignedCursors
from common.models.errors import InvalidCursor
from common.models.suppression_list import ListSuppressionsQuery, SuppressionsPage

if TYPE_CHECKING:
    from common.models.api import Caller


# ------------------------------------------------------------------ the cursor
class _CursorBody(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    d: str  # the domain listed
    s: str  # the last entry's ssk
    e: str  # the last entry's address


class SuppressionCursors:
    """Page cursors of ``GET /suppressions``, signed (HMAC-SHA256) with the cursor key."""

    _PURPOSE = b"email-operations/suppressions-cursor/v1\n"

    def __init__(self, key: str) -> None:
        self._cursors = SignedCursors(key, _CursorBody, purpose=self._PURPOSE)

    def encode(self, domain: str, position: PagePosition) -> str:
        return self._cursors.encode(_CursorBody(d=domain, s=position.ssk, e=position.email))

    def decode(self, cursor: str, *, domain: str) -> PagePosition:
        body = self._cursors.decode(cursor)
        if body.d != domain:
            raise InvalidCursor("the cursor belongs to another domain's list: start again without it")
        return PagePosition(ssk=body.s, email=body.e)


# ------------------------------------------------------------------ the route
def list_suppressions(
    query: ListSuppressionsQuery, caller: Caller, *, store: SuppressionStore, cursors: Callable[[], SuppressionCursors]
) -> SuppressionsPage:
    """One page of the caller's domain's list, newest first. ``cursors`` is
    called only when a cursor is read or made (it reads the key)."""
    caller.require(query.domain)
    after = cursors().decode(query.cursor, domain=query.domain) if query.cursor else None
    entries, last = store.page(query.domain, limit=query.limit, after=after)
    next_cursor = cursors().encode(query.domain, last) if last is not None else None
    return SuppressionsPage(items=entries, next_cursor=next_cursor)
