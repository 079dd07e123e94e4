"""The audit trail (docs/api.md, ``GET /audit``; docs/adr/0082-audit-trail.md).

Each admin action that changed something makes one entry, in its own
request: ``record`` builds it (``actor`` the caller's JWT ``sub``), and the
action's adapter writes it

- in the action's own write where the action is one write: a job cancel, a
  suppression added or removed, a one-click unsubscribe (one
  ``TransactWriteItems`` with the action's conditional write: a refused
  condition, which is a refusal or a no-op, writes neither), a retry (in the
  ``BatchWriteItem`` or the ``TransactWriteItems`` that writes the new job and
  its body; a keyed retry replayed finds its marker and writes nothing);
- a test send (``POST /jobs/test``): ``record_test_send``, written with the
  new job (``Outbox.store_and_queue``'s ``with_jobs``);
- with the first write of a bulk send (the bulk's item, one transaction:
  no job of a bulk send exists without its entry), keyed by the bulk id, so a
  request finishing the same bulk send rewrites that entry rather than adding
  one; a replay answered from Powertools' record writes nothing;
- after a bulk cancel's writes, once it canceled (or handed on) at least one
  job: a cancel of nothing is no entry.

``GET /audit``: one domain's entries (the caller's: 403 otherwise), newest
first, one Query of ``ByDomainRecord`` a page, with a signed cursor that names
the domain (``RecordCursors``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from common.adapters.audit_trail import AuditTrail
from common.logic.record_cursors import RecordCursors
from common.models.audit import AuditAction, AuditEntry, AuditPage, AuditQuery
from common.models.clock import utc_now

if TYPE_CHECKING:
    from common.adapters.attribute_values import Item
    from common.models.api import Caller
    from common.models.job import Job

AUDIT_CURSOR_PURPOSE = b"email-operations/audit-cursor/v1\n"


def actor_of(caller: Caller) -> str:
    """Who an entry names: the JWT's ``sub`` (a token without one: who it speaks for)."""
    return caller.subject or caller.identity


class Recorded:
    """An entry about to be written, and its id (a ULID whose time is ``at``)."""

    def __init__(self, entry_id: str, entry: AuditEntry) -> None:
        self.entry_id = entry_id
        self.entry = entry


def record(
    action: AuditAction,
    actor: str,
    target: str,
    detail: str,
    *,
    entry_id: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Recorded:
    """An entry made now; ``entry_id`` fixes its id (a bulk send's: its bulk id,
    whose time is then ``at``)."""
    # Imported here: only the functions that write entries make an id.
    from ulid import ULID  # noqa: PLC0415

    ulid = ULID.from_datetime(clock()) if entry_id is None else ULID.from_str(entry_id)
    entry = AuditEntry(at=ulid.datetime, actor=actor, action=action, target=target, detail=detail[:500])
    return Recorded(str(ulid), entry)


def record_test_send(trail: AuditTrail, caller: Caller, job: Job, *, clock: Callable[[], datetime] = utc_now) -> Item:
    """A test send's entry (``POST /jobs/test``: ``target`` the new job), as the
    item to write in the same write as the job, in one call::

        outbox.store_and_queue([job], due_at=..., bodies=...,
                               with_jobs={job.job_id: record_test_send(trail, caller, job)})
    """
    made = record(
        AuditAction.TEST_SEND,
        actor_of(caller),
        job.job_id,
        f"Sent a test email \u201c{job.subject[:200]}\u201d to {job.recipient}.",
        clock=clock,
    )
    return trail.item(job.domain, made.entry, entry_id=made.entry_id)


def list_audit(
    query: AuditQuery, caller: Caller, *, trail: AuditTrail, cursors: Callable[[], RecordCursors]
) -> AuditPage:
    """One page of the domain's entries, newest first. ``cursors`` is called
    only when a cursor is read or made (it reads the key)."""
    caller.require(query.domain)
    after = cursors().decode(query.cursor, domain=query.domain) if query.cursor else None
    entries, last = trail.page(query.domain, limit=query.limit, after=after)
    next_cursor = cursors().encode(query.domain, last) if last is not None else None
    return AuditPage(items=entries, next_cursor=next_cursor)
