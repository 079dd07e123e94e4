"""A worker's hold on a job: its claim (a lease, with the attempt counted),
then the one write that ends the attempt (docs/storage.md, section 10): its
outcome, or a wait (the attempt taken back and folded into the log's last
entry), or, when that write fails after SES accepted the email, a minimal one
that records the send; or the job canceled unsent (its bulk send was
canceled), or made ``suppressed`` before any claim (its recipient joined the
domain's suppression list)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters import index_keys
from common.adapters.attribute_values import serialize
from common.adapters.botocore_errors import error_code
from common.adapters.dynamo import TableAdapter, conditionally, storage_error, update_or_old
from common.adapters.job_store import from_item
from common.adapters.status_moves import canceled_update
from common.models.clock import epoch_millis, to_rfc3339
from common.models.job import AttemptLogEntry, AttemptOutcome, Job, JobStatus, JobType, QueueMessage


class ClaimOutcome(Enum):
    CLAIMED = "claimed"
    FINAL = "final"  # past sending (sent, delivered, failed, canceled...): nothing to do
    BUSY = "busy"  # another worker holds a live lease
    MISSING = "missing"  # no such job: the message can never be processed


class Claim(NamedTuple):
    outcome: ClaimOutcome
    job: Job | None = None
    # Waits that versions before 3 counted in ``attempts`` (their ``waits``
    # attribute): not attempts toward the limit. Never written any more.
    legacy_waits: int = 0
    # When the job first waited (epoch ms; ``record_wait``), or None.
    waiting_since_ms: int | None = None
    # The job's TTL (epoch seconds), or None.
    expires_at: int | None = None
    # The status the claim moved the job from (``claimed_from``: the counters' old status).
    claimed_from: JobStatus | None = None


def _number(attributes: Mapping[str, Any], name: str) -> int | None:
    value = attributes.get(name)
    return int(str(value["N"])) if isinstance(value, Mapping) and "N" in value else None


def _status(attributes: Mapping[str, Any], name: str) -> JobStatus | None:
    value = attributes.get(name)
    if isinstance(value, Mapping) and "S" in value and value["S"] in JobStatus.__members__.values():
        return JobStatus(value["S"])
    return None


class _Update:
    """An UpdateExpression being built: SET and REMOVE clauses, names and values."""

    def __init__(self, token: str) -> None:
        self.sets: dict[str, str] = {}
        self.removes: list[str] = ["lease_until", "lease_token"]
        self.names = {"#status": "status", "#error": "error"}
        self.values: dict[str, Any] = {":token": token}

    def status(self, job: Job, status: JobStatus) -> None:
        """The move from ``sending`` (this worker's claim) to ``status``, with its index keys."""
        change = index_keys.transition(index_keys.KeyedJob.of(job)._replace(status=JobStatus.SENDING), status)
        self.sets["#status"] = ":status"
        self.values[":status"] = status.value
        for name, value in change.set.items():
            if name != "status":
                self.sets[name] = f":k_{name}"
                self.values[f":k_{name}"] = value
        self.removes += sorted(change.remove)
        if not status.sweepable:
            self.removes += ["due_at", "waiting_since"]

    def error(self, error: str | None) -> None:
        if error is None:
            self.removes.append("#error")
        else:
            self.sets["#error"] = ":error"
            self.values[":error"] = error

    def expression(self) -> str:
        sets = ", ".join(f"{k} = {v}" for k, v in self.sets.items())
        return f"SET {sets} REMOVE " + ", ".join(dict.fromkeys(self.removes))


class JobClaims(TableAdapter):
    """The worker's writes to a job, each conditional on its status or its lease."""

    def claim(self, message: QueueMessage, *, now_ms: int, lease_seconds: int, token: str, due_at: int) -> Claim:
        """Take a job for sending with one conditional update that also returns it.

        Succeeds for a job ``queued`` or ``retrying``, or ``sending`` whose lease
        expired (its worker died). Counts the attempt. Every status past sending
        (``sent``, ``delivered``, ``bounced``, ``canceled``...) is refused: never
        sent again. The index keys move through ``index_keys.transition`` (valid from
        each status the condition allows); the condition checks domain and type,
        which the keys are built from. The recipient and bulk id the keys also
        need are not in the message, but no key a claim writes depends on them.
        """
        job_type = JobType(message.type)
        # The recipient and bulk id change no key a claim sets (fk/fs, status);
        # esk/esa are only removed.
        base = index_keys.KeyedJob(message.job_id, message.domain, job_type, "", JobStatus.QUEUED)
        olds = [base._replace(status=status) for status in (JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.SENDING)]
        change = index_keys.transition_from(base, olds, JobStatus.SENDING)
        sets = {name: f":k_{name}" for name in change.set if name != "status"}
        values = serialize(
            {
                ":queued": JobStatus.QUEUED.value,
                ":retrying": JobStatus.RETRYING.value,
                ":sending": JobStatus.SENDING.value,
                ":domain": message.domain,
                ":type": job_type.value,
                ":now": now_ms,
                ":lease": now_ms + lease_seconds * 1000,
                ":token": token,
                ":one": 1,
                ":due": due_at,
            }
            | {placeholder: change.set[name] for name, placeholder in sets.items()}
        )
        # ``claimed_from`` first: an update's operands are the item before it, so it
        # keeps the status the claim replaces (the statistics count the move).
        expression = (
            "SET claimed_from = #status, #status = :sending, lease_until = :lease, lease_token = :token, "
            "attempts = attempts + :one, due_at = :due"
        )
        expression += "".join(f", {name} = {placeholder}" for name, placeholder in sets.items())
        if change.remove:
            expression += " REMOVE " + ", ".join(sorted(change.remove))
        claimed, attributes = update_or_old(
            "UpdateItem (claim)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": message.job_id}},
                ConditionExpression=(
                    "attribute_exists(job_id) AND #domain = :domain AND #type = :type "
                    "AND (#status IN (:queued, :retrying) OR (#status = :sending AND lease_until < :now))"
                ),
                UpdateExpression=expression,
                ExpressionAttributeNames={"#status": "status", "#domain": "domain", "#type": "type"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            ),
        )
        if not claimed:
            if "job_id" not in attributes:
                return Claim(ClaimOutcome.MISSING)
            job = from_item(attributes)
            if job.domain != message.domain or job.type is not job_type:
                return Claim(ClaimOutcome.MISSING)
            return Claim(ClaimOutcome.FINAL if job.status.past_sending else ClaimOutcome.BUSY, job)
        return Claim(
            ClaimOutcome.CLAIMED,
            from_item(attributes),
            legacy_waits=_number(attributes, "waits") or 0,
            waiting_since_ms=_number(attributes, "waiting_since"),
            expires_at=_number(attributes, "expires_at"),
            claimed_from=_status(attributes, "claimed_from"),
        )

    def suppress_unsent(self, message: QueueMessage, *, now_ms: int, error: str) -> Job | None:
        """Make a job that was never sent ``suppressed`` (its recipient joined the
        domain's suppression list after it was queued), with one conditional
        update: only from ``queued``, ``retrying`` or an expired ``sending`` (as
        ``claim``), and only the job of that domain, type and recipient, so a
        job sent or held meanwhile is never touched. No attempt is counted.
        Returns the job as it was before the change (its old status), or None
        when it was not changed."""
        job_type = JobType(message.type)
        if message.recipient is None:  # a message without it is checked by no list
            return None
        # suppressed is exceptional: its rek names the recipient (checked by the condition).
        base = index_keys.KeyedJob(message.job_id, message.domain, job_type, message.recipient, JobStatus.QUEUED)
        olds = [base._replace(status=status) for status in (JobStatus.QUEUED, JobStatus.RETRYING, JobStatus.SENDING)]
        change = index_keys.transition_from(base, olds, JobStatus.SUPPRESSED)
        names = {"#status": "status", "#domain": "domain", "#type": "type", "#error": "error"}
        values: dict[str, Any] = {
            ":queued": JobStatus.QUEUED.value,
            ":retrying": JobStatus.RETRYING.value,
            ":sending": JobStatus.SENDING.value,
            ":domain": message.domain,
            ":type": job_type.value,
            ":recipient": message.recipient,
            ":now": now_ms,
            ":error": error,
        }
        sets = ["#error = :error"]
        for n, (name, value) in enumerate(change.set.items()):
            names[f"#k{n}"] = name
            values[f":k{n}"] = value
            sets.append(f"#k{n} = :k{n}")
        removes = sorted({*change.remove, "due_at", "lease_until", "lease_token"})
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": message.job_id}},
                ConditionExpression=(
                    "attribute_exists(job_id) AND #domain = :domain AND #type = :type AND recipient = :recipient "
                    "AND (#status IN (:queued, :retrying) OR (#status = :sending AND lease_until < :now))"
                ),
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
                ReturnValues="ALL_OLD",
            )
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise storage_error("UpdateItem (suppress)", exc) from exc
        return from_item(response["Attributes"])

    def record_attempt(
        self,
        job: Job,
        *,
        token: str,
        entry: AttemptLogEntry,
        status: JobStatus,
        message_id: str | None = None,
        sent_at: datetime | None = None,
        due_at: int | None = None,
        outcome_unknown: bool = False,
        attempted: bool = True,
    ) -> bool:
        """The one write that ends an attempt: status, error, the attempt's log
        entry, and for a sent job its ``sent_at`` and ``message_id``.
        ``outcome_unknown``: SES may have accepted this attempt (its answer was
        lost): ``outcome_unknown_at`` is set to the entry's time, and stays until
        an attempt is accepted. ``attempted=False``: the claim ends the job
        without an attempt (a wait too long, the retention's end), and the
        attempt it counted is taken back. Conditional on still holding the
        lease; returns False when another worker took the job meanwhile."""
        update = _Update(token)
        if not attempted:
            update.sets["attempts"] = "attempts - :one"
            update.values[":one"] = 1
        update.status(job, status)
        update.sets["attempt_log"] = "list_append(attempt_log, :entry)"
        update.values[":entry"] = [entry.model_dump(mode="json")]
        update.error(entry.error)
        if message_id is not None:
            update.sets["message_id"] = ":message_id"
            update.values[":message_id"] = message_id
        if sent_at is not None:
            update.sets["sent_at"] = ":sent_at"
            update.values[":sent_at"] = to_rfc3339(sent_at)
            update.removes.append("outcome_unknown_at")
        if outcome_unknown:
            update.sets["outcome_unknown_at"] = ":unknown_at"
            update.values[":unknown_at"] = to_rfc3339(entry.at)
        if status.sweepable and due_at is not None:
            update.sets["due_at"] = ":due"
            update.values[":due"] = due_at
        return self._end_attempt(job, update, "UpdateItem (attempt)")

    def record_wait(self, job: Job, *, token: str, at: datetime, error: str, due_at: int) -> AttemptLogEntry | None:
        """End a claim that met back-pressure (SES throttled or paused, the
        unsubscribe key unreadable): nothing was learnt about the email, so it
        is not an attempt. One conditional write on the lease: ``retrying``, the
        attempt the claim counted taken back, ``error``, ``due_at``, the job's
        first wait kept in ``waiting_since``, and the log's last entry, when it
        stands for waits already, replaced by one more (``repeated`` + 1, this
        wait's time and error), else a new entry with ``repeated`` 1: consecutive
        waits are one entry, so the item stays bounded however long they last.
        Returns the entry written, or None when the lease was lost."""
        update = _Update(token)
        update.status(job, JobStatus.RETRYING)
        update.error(error)
        last = job.attempt_log[-1] if job.attempt_log else None
        repeated = last.repeated + 1 if last is not None and last.repeated is not None else 1
        entry = AttemptLogEntry(at=at, outcome=AttemptOutcome.RETRY, error=error, repeated=repeated)
        if repeated > 1:
            # The claim returned the log as it stands, and only the lease holder writes it.
            update.sets[f"attempt_log[{len(job.attempt_log) - 1}]"] = ":entry"
            update.values[":entry"] = entry.model_dump(mode="json")
        else:
            update.sets["attempt_log"] = "list_append(attempt_log, :entry)"
            update.values[":entry"] = [entry.model_dump(mode="json")]
        update.sets["attempts"] = "attempts - :one"
        update.sets["waiting_since"] = "if_not_exists(waiting_since, :now_ms)"
        update.sets["due_at"] = ":due"
        update.values.update({":one": 1, ":now_ms": epoch_millis(at), ":due": due_at})
        return entry if self._end_attempt(job, update, "UpdateItem (wait)") else None

    def record_sent_minimal(self, job: Job, *, token: str, entry: AttemptLogEntry, message_id: str) -> bool:
        """Record a send SES accepted when ``record_attempt`` failed: ``sent``,
        ``sent_at``, ``message_id`` and the index keys, with the log replaced by
        this attempt's entry alone and ``error`` removed, so the item only
        shrinks and the write cannot fail for its size. Conditional on the
        lease, as ``record_attempt``; returns False when it was lost."""
        update = _Update(token)
        update.status(job, JobStatus.SENT)
        update.error(None)
        update.sets.update(attempt_log=":entries", message_id=":message_id", sent_at=":sent_at")
        update.values.update(
            {":entries": [entry.model_dump(mode="json")], ":message_id": message_id, ":sent_at": to_rfc3339(entry.at)}
        )
        update.removes.append("outcome_unknown_at")
        return self._end_attempt(job, update, "UpdateItem (sent, minimal)")

    def _end_attempt(self, job: Job, update: _Update, operation: str) -> bool:
        """One write on this worker's lease, while the job is still ``sending``:
        if SES's event recorded the send meanwhile (common.logic.events), the
        event's status stands and this write is not made (False)."""
        update.values[":sending"] = JobStatus.SENDING.value
        return conditionally(
            operation,
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": job.job_id}},
                UpdateExpression=update.expression(),
                ConditionExpression="lease_token = :token AND #status = :sending",
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=serialize(update.values),
            ),
        )

    def cancel_claimed(self, job: Job, *, token: str) -> bool:
        """Move a job this worker has just claimed (``sending``, its lease
        ``token``) to ``canceled``, unsent: its bulk send was canceled. One
        conditional ``UpdateItem`` on the lease, which also takes back the
        attempt the claim counted (nothing was tried). Returns False when the
        lease was lost meanwhile."""
        change = index_keys.transition(
            index_keys.KeyedJob.of(job)._replace(status=JobStatus.SENDING), JobStatus.CANCELED
        )
        names = {"#status": "status"}
        values: dict[str, Any] = {":token": token, ":one": 1}
        sets = ["attempts = attempts - :one"]
        removes = canceled_update(change, names, values, sets)
        return conditionally(
            "UpdateItem (cancel claimed)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": job.job_id}},
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE " + ", ".join(dict.fromkeys(removes)),
                ConditionExpression="lease_token = :token",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
            ),
        )
