"""A job's status moved outside a worker's lease: a delivery settled, a cancel
(docs/storage.md, section 12). Each is one conditional ``UpdateItem`` through
``index_keys.transition``, so the indexes move as for every status change; the
sweeper's parking of a ``sent`` job (``common.adapters.in_flight``) is the same
move (``move_status``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters import index_keys
from common.adapters.attribute_values import deserialize, serialize
from common.adapters.dynamo import TableAdapter, conditionally, storage_error, transact, update_or_old
from common.adapters.job_store import from_item
from common.models.job import Job, JobStatus, JobType

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

# A cancel moves a job from these statuses only (the contract's cancelable set).
CANCELABLE = (JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.RETRYING)


class CancelOutcome(NamedTuple):
    canceled: bool
    job: Job | None  # after the cancel; as found when refused; None: no such job


def move_status(
    client: DynamoDBClient,
    table: str,
    before: index_keys.KeyedJob,
    status: JobStatus,
    *,
    parked: bool = False,
    error: str | None = None,
) -> bool:
    """Move a job from ``before`` (its keys and status as read) to ``status``
    (``parked``: a ``sent`` job into the exact status indexes): one
    ``UpdateItem`` conditional on that status (parked or not)."""
    change = index_keys.transition(before, status, parked=parked)
    names = {"#status": "status"}
    values: dict[str, Any] = {":old": before.status.value}
    sets = []
    for n, (name, value) in enumerate(change.set.items()):
        names[f"#a{n}"] = name
        values[f":a{n}"] = value
        sets.append(f"#a{n} = :a{n}")
    removes = [*sorted(change.remove)]
    if not status.sweepable:
        removes += ["due_at", "lease_until", "lease_token"]
    if error is not None:
        names["#error"] = "error"
        values[":error"] = error
        sets.append("#error = :error")
    expression = ("SET " + ", ".join(sets)) if sets else ""
    if removes:
        expression += " REMOVE " + ", ".join(dict.fromkeys(removes))
    condition = "#status = :old AND " + ("attribute_exists(esk)" if before.parked else "attribute_not_exists(esk)")
    if before.status.exceptional:
        condition = "#status = :old"
    return conditionally(
        "UpdateItem (settle)",
        lambda: client.update_item(
            TableName=table,
            Key={"pk": {"S": before.job_id}},
            UpdateExpression=expression.strip(),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=serialize(values),
        ),
    )


def canceled_update(
    change: index_keys.Transition, names: dict[str, str], values: dict[str, Any], sets: list[str]
) -> list[str]:
    """Add a move to ``canceled``'s index keys to an update's names, values and
    SET clauses; return what it removes (the keys, and the lease and sweep
    attributes: nothing sends or sweeps a canceled job)."""
    for n, (name, value) in enumerate(sorted(change.set.items())):
        placeholder = "#status" if name == "status" else f"#k{n}"
        names[placeholder] = name
        values[f":k{n}"] = value
        sets.append(f"{placeholder} = :k{n}")
    return [*sorted(change.remove), "due_at", "lease_until", "lease_token"]


class StatusMoves(TableAdapter):
    """Settle and cancel: a job's status moved by someone other than its worker."""

    def settle(
        self, job_id: str, status: JobStatus, *, error: str | None = None, current: index_keys.KeyedJob | None = None
    ) -> bool:
        """Move a job to ``status`` outside a worker's lease (a delivery event, a
        cancel): one conditional ``UpdateItem`` through ``index_keys.transition``,
        conditional on the job still being in its current status (parked or
        not). The keys and the current status come from ``current`` when the
        caller knows them (one call), else from a strongly consistent read (two
        calls: what to set and remove depends on the status and on the domain,
        type and recipient the keys are built from). Returns False for an
        unknown job or when its status is not (or no longer) the one known (the
        caller reads again and decides). The next issues add de-duplication
        and precedence of events.
        """
        if current is not None:
            return current.job_id == job_id and move_status(self._client, self._table, current, status, error=error)
        try:
            response = self._client.get_item(TableName=self._table, Key={"pk": {"S": job_id}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("GetItem", exc) from exc
        item = response.get("Item")
        if item is None or "job_id" not in item:
            return False
        return move_status(
            self._client, self._table, index_keys.KeyedJob.from_item(deserialize(item)), status, error=error
        )

    def cancel(
        self,
        job_id: str,
        *,
        domain: str,
        job_type: JobType,
        recipient: str,
        also: Sequence[TransactWriteItemTypeDef] = (),
    ) -> CancelOutcome:
        """Move a job from ``scheduled``, ``queued`` or ``retrying`` to ``canceled``: one
        conditional ``UpdateItem`` (the same condition the worker's claim
        needs, so exactly one of a cancel and a claim wins). Its index keys move
        as for any status past sending (``index_keys.transition_from``, valid from
        both statuses): out of ``InFlight``, into the exact status indexes
        under ``canceled``; ``ByBulk``'s projected status follows. The lease
        and sweep attributes go: nothing sends or sweeps it any more.
        ``domain``, ``type`` and ``recipient`` (which the keys are built from:
        ``canceled`` is an exceptional status, its ``rek`` names the recipient) are
        part of the condition. Returns the job after the write, or as found when
        refused. ``also`` (an audit entry): written in the same
        ``TransactWriteItems`` as the cancel, only if the cancel is made; the
        job is then read back (strongly consistent ``GetItem``)."""
        base = index_keys.KeyedJob(job_id, domain, job_type, recipient, JobStatus.QUEUED)
        olds = [base._replace(status=status) for status in CANCELABLE]
        change = index_keys.transition_from(base, olds, JobStatus.CANCELED)
        names = {"#status": "status", "#domain": "domain", "#type": "type", "#recipient": "recipient"}
        values: dict[str, Any] = {
            ":queued": JobStatus.QUEUED.value,
            ":retrying": JobStatus.RETRYING.value,
            ":scheduled": JobStatus.SCHEDULED.value,
            ":domain": domain,
            ":type": job_type.value,
            ":recipient": recipient,
        }
        sets: list[str] = []
        removes = canceled_update(change, names, values, sets)
        update: Any = {
            "TableName": self._table,
            "Key": {"pk": {"S": job_id}},
            "UpdateExpression": "SET " + ", ".join(sets) + " REMOVE " + ", ".join(dict.fromkeys(removes)),
            "ConditionExpression": (
                "attribute_exists(job_id) AND #domain = :domain AND #type = :type "
                "AND #recipient = :recipient AND #status IN (:queued, :retrying, :scheduled)"
            ),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": serialize(values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if also:
            refused = transact(
                self._client,
                [{"Update": update}, *also],
                operation="TransactWriteItems (cancel)",
                names=("job", "audit entry"),
            )
            if refused is not None:
                old = refused.get("Item") or {}
                return CancelOutcome(False, from_item(old) if "job_id" in old else None)
            try:
                got = self._client.get_item(TableName=self._table, Key={"pk": {"S": job_id}}, ConsistentRead=True)
            except (ClientError, BotoCoreError) as exc:
                raise storage_error("GetItem", exc) from exc
            return CancelOutcome(True, from_item(got["Item"]) if "Item" in got else None)
        canceled, item = update_or_old(
            "UpdateItem (cancel)", lambda: self._client.update_item(**update, ReturnValues="ALL_NEW")
        )
        return CancelOutcome(canceled, from_item(item) if "job_id" in item else None)
