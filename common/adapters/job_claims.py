"""A worker's hold on a job: its claim (a lease, with the attempt counted),
then the one write that ends the attempt (docs/storage.md, section 12), or the
job canceled unsent (its bulk send was canceled), or made ``suppressed``
before any claim (its recipient joined the domain's suppression list)."""

from __future__ import annotations

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
from common.models.clock import to_rfc3339
from common.models.job import AttemptLogEntry, Job, JobStatus, JobType, QueueMessage


class ClaimOutcome(Enum):
    CLAIMED = "claimed"
    FINAL = "final"  # past sending (sent, delivered, failed, canceled...): nothing to do
    BUSY = "busy"  # another worker holds a live lease
    MISSING = "missing"  # no such job: the message can never be processed


class Claim(NamedTuple):
    outcome: ClaimOutcome
    job: Job | None = None
    # Attempts of this job met by back-pressure (``record_attempt(waited=True)``).
    waits: int = 0


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
        expression = (
            "SET #status = :sending, lease_until = :lease, lease_token = :token, "
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
        waits = int(str(attributes.get("waits", {}).get("N", "0")))
        return Claim(ClaimOutcome.CLAIMED, from_item(attributes), waits)

    def suppress_unsent(self, message: QueueMessage, *, now_ms: int, error: str) -> bool:
        """Make a job that was never sent ``suppressed`` (its recipient joined the
        domain's suppression list after it was queued), with one conditional
        update: only from ``queued``, ``retrying`` or an expired ``sending`` (as
        ``claim``), and only the job of that domain, type and recipient, so a
        job sent or held meanwhile is never touched. No attempt is counted.
        Returns whether the job was changed."""
        job_type = JobType(message.type)
        if message.recipient is None:  # a message without it is checked by no list
            return False
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
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": message.job_id}},
                ConditionExpression=(
                    "attribute_exists(job_id) AND #domain = :domain AND #type = :type AND recipient = :recipient "
                    "AND (#status IN (:queued, :retrying) OR (#status = :sending AND lease_until < :now))"
                ),
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values),
            )
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise storage_error("UpdateItem (suppress)", exc) from exc
        return True

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
        waited: bool = False,
    ) -> bool:
        """The one write that ends an attempt: status, error, log, and for a sent
        job its ``sent_at`` and ``message_id``. Conditional on still holding the
        lease; returns False when another worker took the job meanwhile.
        ``waited``: the attempt met back-pressure; it is also counted in ``waits``."""
        change = index_keys.transition(index_keys.KeyedJob.of(job)._replace(status=JobStatus.SENDING), status)
        sets = {"#status": ":status", "attempt_log": "list_append(attempt_log, :entry)"}
        values: dict[str, Any] = {
            ":status": status.value,
            ":entry": [entry.model_dump(mode="json")],
            ":token": token,
        }
        for name, value in change.set.items():
            if name != "status":
                sets[name] = f":k_{name}"
                values[f":k_{name}"] = value
        removes = ["lease_until", "lease_token", *sorted(change.remove)]
        if entry.error is None:
            removes.append("#error")
        else:
            sets["#error"] = ":error"
            values[":error"] = entry.error
        if message_id is not None:
            sets["message_id"] = ":message_id"
            values[":message_id"] = message_id
        if sent_at is not None:
            sets["sent_at"] = ":sent_at"
            values[":sent_at"] = to_rfc3339(sent_at)
        if waited:
            sets["waits"] = "if_not_exists(waits, :zero) + :one"
            values.update({":zero": 0, ":one": 1})
        if not status.sweepable:
            removes.append("due_at")
        elif due_at is not None:
            sets["due_at"] = ":due"
            values[":due"] = due_at
        expression = "SET " + ", ".join(f"{k} = {v}" for k, v in sets.items()) + " REMOVE " + ", ".join(removes)
        return conditionally(
            "UpdateItem (attempt)",
            lambda: self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": job.job_id}},
                UpdateExpression=expression,
                ConditionExpression="lease_token = :token",
                ExpressionAttributeNames={"#status": "status", "#error": "error"},
                ExpressionAttributeValues=serialize(values),
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
