"""Suppression lists: the routes' rules, and the check every send path makes (docs/api.md).

- ``GET /suppressions``: one domain's list (the caller's: 403 otherwise),
  newest first, paged with a signed cursor that names the domain, so a cursor
  of one domain never reads another's list (400 ``invalid_cursor``).
- ``PUT /suppressions/{domain}/{email}``: adds the address with reason
  ``manual``; an address already listed keeps its entry.
- ``DELETE``: removes it; 404 when it is not listed.
- ``unsubscribe``: the one-click POST: adds the token's recipient with reason
  ``unsubscribed``; doing it again changes nothing.
- ``Suppressions.find``: which of many addresses are suppressed, for enqueue,
  Bulk Send and the worker (one BatchGetItem per 100 addresses).

Addresses are checked for syntax (400) and compared case-insensitively: an
entry's key is the address as enqueue normalises it, lower-cased.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from common.adapters.suppressions import PagePosition, SuppressionStore
from common.logic.clock import utc_now
from common.logic.signing import SignedCursors
from common.models.errors import InvalidCursor
from common.models.job import Domain, normalize_address
from common.models.suppression import (
    REASON_WORDS,
    InvalidAddress,
    ListSuppressionsQuery,
    SuppressionEntry,
    SuppressionNotFound,
    SuppressionReason,
    SuppressionsPage,
)

if TYPE_CHECKING:
    from common.models.api import Caller

SUPPRESSED = "suppressed"  # what a bulk send's rejection reason begins with


_domain = TypeAdapter(Domain, config=ConfigDict(defer_build=True))


def checked_domain(raw: str) -> str:
    """A domain from a path: a host name, lower-cased."""
    try:
        return _domain.validate_python(raw)
    except ValidationError:
        raise InvalidAddress("domain: must be a host name such as acme.com") from None


def checked_address(raw: str) -> str:
    """An address from a path: checked for syntax, normalised, lower-cased."""
    try:
        return normalize_address(raw.strip()).lower()
    except ValueError as exc:
        raise InvalidAddress(f"email: {exc}") from None


def suppressed_error(entry: SuppressionEntry) -> str:
    """A suppressed job's ``error``: why, and how to lift it."""
    when = entry.created_at.strftime("%Y-%m-%d")
    return (
        f"not sent: the recipient is on {entry.domain}'s suppression list "
        f"({REASON_WORDS[entry.reason]} on {when}); remove it under Suppressions to send again"
    )


def bulk_rejection(entry: SuppressionEntry) -> str:
    """A bulk send's reason for leaving a suppressed address out."""
    return f"{SUPPRESSED}: {entry.reason.value}"


class Suppressions:
    """The check every send path makes."""

    def __init__(self, store: SuppressionStore) -> None:
        self._store = store

    def find(self, addresses: Iterable[tuple[str, str]]) -> dict[tuple[str, str], SuppressionEntry]:
        """The entries of those ``(domain, address)`` pairs that are suppressed,
        keyed by ``(domain, address lower-case)``."""
        return self._store.get_many(addresses)


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


# ------------------------------------------------------------------ the routes
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


def suppress_by_hand(
    domain: str, email: str, caller: Caller, *, store: SuppressionStore, clock: Callable[[], datetime] = utc_now
) -> SuppressionEntry:
    """``PUT``: the entry listed for the address (this new one, or the one already there)."""
    domain = checked_domain(domain)
    address = checked_address(email)
    caller.require(domain)
    entry, _ = store.add(
        SuppressionEntry(domain=domain, email=address, reason=SuppressionReason.MANUAL, created_at=clock())
    )
    return entry


def lift(domain: str, email: str, caller: Caller, *, store: SuppressionStore) -> None:
    """``DELETE``: that domain's emails reach the address again."""
    domain = checked_domain(domain)
    address = checked_address(email)
    caller.require(domain)
    if not store.remove(domain, address):
        raise SuppressionNotFound(f"{address} is not on {domain}'s suppression list")


def unsubscribe(
    domain: str, email: str, *, store: SuppressionStore, clock: Callable[[], datetime] = utc_now
) -> SuppressionEntry:
    """The one-click POST: the recipient joins the domain's list (once)."""
    entry, _ = store.add(
        SuppressionEntry(domain=domain, email=email, reason=SuppressionReason.UNSUBSCRIBED, created_at=clock())
    )
    return entry
