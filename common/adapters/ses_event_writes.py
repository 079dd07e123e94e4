"""SES's events written to their jobs (docs/storage.md, section 12): the
status (the strongest wins), one entry in ``events`` and the event's id in
``event_ids``, with one conditional ``UpdateItem`` in the usual case.
``common.logic.events`` reads the events and builds each ``EventWrite``."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters import index_keys
from common.adapters.attribute_values import deserialize, serialize
from common.adapters.dynamo import UNPROCESSED_RETRIES, TableAdapter, storage_error, update_or_old
from common.models.clock import to_rfc3339
from common.models.errors import StorageError
from common.models.job import AttemptLogEntry, AttemptOutcome, EventEntry, Job, JobStatus, JobType


class EventOutcome(Enum):
    APPLIED = "applied"  # the job took the event's status
    RECORDED = "recorded"  # the entry was added; the job keeps a status the event does not override
    DUPLICATE = "duplicate"  # this event was applied before: nothing written
    UNKNOWN_JOB = "unknown_job"  # no such job


class EventWrite(NamedTuple):
    """One SES event, ready to write (``common.logic.events`` builds it)."""

    job_id: str
    # From SES's tags: the first write builds the status keys from them (its
    # condition checks them); without them the job is read first.
    domain: str | None
    type: JobType | None
    event_id: str  # the event's identity: written once per job
    entry: EventEntry
    status: JobStatus  # what the event makes the job
    moves_from: frozenset[JobStatus]  # the statuses it overrides (section 2's precedence)
    error: str | None = None  # the job's ``error`` when the event moves it (``None``: it has none)
    # When SES accepted the email and SES's message id: a job the event moves
    # keeps those it has (the worker's), else takes these.
    sent_at: datetime | None = None
    message_id: str | None = None
    # A permanent bounce: the job is marked (``permanent_bounce``), which a
    # domain's bounce rate counts; a transient bounce is not.
    permanent_bounce: bool = False


class EventResult(NamedTuple):
    outcome: EventOutcome
    job: Job | None = None  # after the write (``APPLIED``, ``RECORDED``), else as found


class SesEventWrites(TableAdapter):
    """One SES event applied to its job."""

    def apply_event(self, write: EventWrite) -> EventResult:
        """Apply one SES event to its job: one conditional ``UpdateItem`` in the
        usual case (the job is in a status the event overrides).

        The write sets the event's status and exactly the index keys it needs
        (``index_keys.transition_from`` every status it may override, so no read
        comes first), ``sent_at`` and ``message_id`` where the job has none, the
        event's ``error`` (or none: what an earlier status left is stale),
        appends the entry to ``events`` and adds its id to ``event_ids``; it
        removes the lease, so a worker still holding one writes nothing after
        it. Its condition refuses a job in any other status and an event
        already applied. When the condition fails, the job as it was comes back
        with the failure (no extra read) and decides:

        - no such job: ``UNKNOWN_JOB``; the event id already there: ``DUPLICATE``;
        - a status the event does not override (a stronger one, or, for a
          delay or a reject, ``failed``, ``canceled``, ``suppressed``): the
          entry alone is added, conditional on that status (``RECORDED``): a
          second write, only for late events;
        - a status it does override: the same write built from the job itself.
          That is the way for a job still ``sending`` (the blind write leaves it
          out): its attempt's outcome, which its worker can no longer write, is
          logged as ``sent`` at SES's time; and for a job whose tags named
          another domain or type than it has.
        """
        old: dict[str, Any] | None = None
        if write.domain is None or write.type is None or write.status.exceptional:
            # Without the tags the status keys cannot be built blind, nor the
            # exceptional statuses' recipient key (``rek``) without the job's own
            # recipient: read the job first (rare events only: delays, bounces,
            # complaints, rejects).
            old = self._raw(write.job_id)
        for _ in range(UNPROCESSED_RETRIES):
            if old is None:
                assert write.domain is not None and write.type is not None  # noqa: S101 - checked above
                base = index_keys.KeyedJob(write.job_id, write.domain, write.type, "", write.status)
                blind = sorted(write.moves_from - {JobStatus.SENDING})
                olds = [base._replace(status=status) for status in blind]
                if JobStatus.SENT in write.moves_from:
                    olds.append(base._replace(status=JobStatus.SENT, parked=True))
                outcome, found = self._event_update(write, base, olds, exact=None)
            else:
                if "job_id" not in old:
                    return EventResult(EventOutcome.UNKNOWN_JOB)
                job = Job.model_validate(old)
                if write.event_id in (old.get("event_ids") or set()):
                    return EventResult(EventOutcome.DUPLICATE, job)
                before = index_keys.KeyedJob.from_item(old)
                if job.status in write.moves_from:
                    outcome, found = self._event_update(write, before, [before], exact=before)
                else:
                    outcome, found = self._event_record(write, before)
            if outcome is not None:
                return EventResult(outcome, Job.model_validate(found))
            old = found
        raise StorageError("UpdateItem (event): the job kept changing")

    def _raw(self, job_id: str) -> dict[str, Any]:
        try:
            response = self._client.get_item(TableName=self._table, Key={"pk": {"S": job_id}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("GetItem", exc) from exc
        return deserialize(response.get("Item") or {})

    def _event_update(
        self,
        write: EventWrite,
        base: index_keys.KeyedJob,
        olds: list[index_keys.KeyedJob],
        *,
        exact: index_keys.KeyedJob | None,
    ) -> tuple[EventOutcome | None, dict[str, Any]]:
        change = index_keys.transition_from(base, olds, write.status)
        names = {"#status": "status"}
        values: dict[str, Any] = {}
        sets = ["events = list_append(if_not_exists(events, :no_events), :entry)"]
        for n, (name, value) in enumerate(sorted(change.set.items())):
            names[f"#k{n}"] = name
            values[f":k{n}"] = value
            sets.append(f"#k{n} = :k{n}")
        names["#error"] = "error"
        removes = sorted(change.remove)
        if write.error is not None:
            values[":error"] = write.error
            sets.append("#error = :error")
        else:
            removes.append("#error")
        if write.sent_at is not None:
            values[":sent_at"] = to_rfc3339(write.sent_at)
            sets.append("sent_at = if_not_exists(sent_at, :sent_at)")
        if write.message_id is not None:
            values[":message_id"] = write.message_id
            sets.append("message_id = if_not_exists(message_id, :message_id)")
        if write.permanent_bounce:
            values[":permanent"] = True
            sets.append("permanent_bounce = :permanent")
        if exact is not None and exact.status is JobStatus.SENDING:
            # The attempt under way was accepted: its worker's outcome write
            # (conditional on the lease removed here) can no longer log it.
            attempt = AttemptLogEntry(at=write.sent_at or write.entry.at, outcome=AttemptOutcome.SENT)
            values[":attempt"] = [attempt.model_dump(mode="json")]
            sets.append("attempt_log = list_append(if_not_exists(attempt_log, :no_events), :attempt)")
        if not write.status.sweepable:
            removes += ["due_at", "lease_until", "lease_token"]
        expression = "SET " + ", ".join(sets) + " ADD event_ids :event_id_set"
        expression += " REMOVE " + ", ".join(dict.fromkeys(removes))
        if exact is None:
            statuses = sorted({old.status.value for old in olds})
            placeholders = [f":from{n}" for n in range(len(statuses))]
            values.update(zip(placeholders, statuses, strict=True))
            names.update({"#domain": "domain", "#type": "type"})
            values.update({":domain": base.domain, ":type": base.type.value})
            condition = (
                f"attribute_exists(job_id) AND #domain = :domain AND #type = :type "
                f"AND #status IN ({', '.join(placeholders)})"
            )
        else:
            values[":old"] = exact.status.value
            condition = "#status = :old"
            if exact.status is JobStatus.SENT:
                condition += " AND " + ("attribute_exists(esk)" if exact.parked else "attribute_not_exists(esk)")
        condition += " AND NOT contains(event_ids, :event_id)"
        return self._event_write(write, expression, condition, names, values)

    def _event_record(
        self, write: EventWrite, before: index_keys.KeyedJob
    ) -> tuple[EventOutcome | None, dict[str, Any]]:
        """The entry alone, for a job whose status the event does not override."""
        expression = "SET events = list_append(if_not_exists(events, :no_events), :entry) ADD event_ids :event_id_set"
        condition = "#status = :old AND NOT contains(event_ids, :event_id)"
        outcome, found = self._event_write(
            write, expression, condition, {"#status": "status"}, {":old": before.status.value}
        )
        return (EventOutcome.RECORDED if outcome is not None else None), found

    def _event_write(
        self, write: EventWrite, expression: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> tuple[EventOutcome | None, dict[str, Any]]:
        """One conditional UpdateItem: ``(APPLIED, new item)``, or ``(None, old item)``
        when its condition failed (``{}`` when there is no item)."""
        values = values | {
            ":no_events": [],
            ":entry": [write.entry.model_dump(mode="json")],
            ":event_id": write.event_id,
        }
        item_values = serialize(values)
        item_values[":event_id_set"] = {"SS": [write.event_id]}
        applied, item = update_or_old(
            "UpdateItem (event)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": write.job_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=item_values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ),
        )
        return (EventOutcome.APPLIED if applied else None), deserialize(item)
