"""Suppression lists: the routes' rules, and the check every send path makes (docs/api.md).

- ``GET /suppressions``: one domain's list, in ``common.logic.suppression_list``.
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

from pydantic import ConfigDict, TypeAdapter, ValidationError

from common.adapters.audit_trail import AuditTrail
from common.adapters.suppressions import BatchReading, SuppressionStore
from common.logic.audit import actor_of, record
from common.models.audit import RECIPIENT_ACTOR, AuditAction
from common.models.clock import utc_now
from common.models.job import Domain, normalize_address
from common.models.suppression import (
    REASON_WORDS,
    InvalidAddress,
    SuppressionEntry,
    SuppressionNotFound,
    SuppressionReason,
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

    def find_with_bulk_marks(self, addresses: Iterable[tuple[str, str]], bulk_ids: Iterable[str]) -> BatchReading:
        """``find``, and which of ``bulk_ids`` are canceled, in one read (the worker's per batch)."""
        return self._store.get_many_with_bulk_marks(addresses, bulk_ids)


# ------------------------------------------------------------------ the routes
# Each writes its audit entry in the same TransactWriteItems as its change,
# and none when nothing changed (common.logic.audit).
def suppress_by_hand(
    domain: str,
    email: str,
    caller: Caller,
    *,
    store: SuppressionStore,
    trail: AuditTrail,
    clock: Callable[[], datetime] = utc_now,
) -> SuppressionEntry:
    """``PUT``: the entry listed for the address (this new one, or the one already there)."""
    domain = checked_domain(domain)
    address = checked_address(email)
    caller.require(domain)
    made = record(
        AuditAction.SUPPRESSION_ADD,
        actor_of(caller),
        address,
        f"Added {address} to {domain}'s suppression list by hand: {domain}'s emails no longer reach it.",
        clock=clock,
    )
    entry, _ = store.add(
        SuppressionEntry(domain=domain, email=address, reason=SuppressionReason.MANUAL, created_at=clock()),
        also=[trail.put_request(domain, made.entry, entry_id=made.entry_id)],
    )
    return entry


def lift(
    domain: str,
    email: str,
    caller: Caller,
    *,
    store: SuppressionStore,
    trail: AuditTrail,
    clock: Callable[[], datetime] = utc_now,
) -> None:
    """``DELETE``: that domain's emails reach the address again."""
    domain = checked_domain(domain)
    address = checked_address(email)
    caller.require(domain)
    made = record(
        AuditAction.SUPPRESSION_REMOVE,
        actor_of(caller),
        address,
        f"Removed {address} from {domain}'s suppression list: {domain}'s emails reach it again.",
        clock=clock,
    )
    if not store.remove(domain, address, also=[trail.put_request(domain, made.entry, entry_id=made.entry_id)]):
        raise SuppressionNotFound(f"{address} is not on {domain}'s suppression list")


def unsubscribe(
    domain: str,
    email: str,
    *,
    store: SuppressionStore,
    trail: AuditTrail,
    clock: Callable[[], datetime] = utc_now,
) -> SuppressionEntry:
    """The one-click POST: the recipient joins the domain's list (once)."""
    made = record(
        AuditAction.UNSUBSCRIBE,
        RECIPIENT_ACTOR,
        email.lower(),
        f"{email.lower()} unsubscribed from {domain}'s bulk emails with one click: it is on the suppression list now.",
        clock=clock,
    )
    entry, _ = store.add(
        SuppressionEntry(domain=domain, email=email, reason=SuppressionReason.UNSUBSCRIBED, created_at=clock()),
        also=[trail.put_request(domain, made.entry, entry_id=made.entry_id)],
    )
    return entry
