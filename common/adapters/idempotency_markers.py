"""Idempotency markers in the jobs table: what an enqueue's (or a retry's)
``idempotency_key`` stands for (docs/storage.md, section 3).

A marker (``pk`` = ``idem#<domain>#<key>``) points at the job created first
for that key (``target_job_id``) and keeps the fingerprint of the request that
created it (``fingerprint``; markers written before version 2 have none). It
carries none of the index keys, so it never shows in a listing. It is written
in one transaction with its job (and the job's body), and lives as long as the
job. Bulk Send's ``Idempotency-Key`` is another store's
(``common.adapters.idempotency_store``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from common.adapters.attribute_values import Item, deserialize, serialize
from common.adapters.botocore_errors import error_code
from common.adapters.dynamo import (
    BATCH_GET_LIMIT,
    UNPROCESSED_RETRIES,
    TableAdapter,
    backoff,
    batch_get,
    refusals,
    storage_error,
)
from common.adapters.job_store import to_item
from common.models.errors import IdempotencyKeyReused, StorageError
from common.models.job import JOB_ID_RE, Job

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


def idempotency_pk(domain: str, key: str) -> str:
    return f"idem#{domain}#{key}"


class IdempotencyMarker(BaseModel):
    """What an idempotency key stands for: the first job's id and its request's fingerprint."""

    model_config = ConfigDict(defer_build=True)

    target_job_id: str = Field(pattern=JOB_ID_RE.pattern)
    fingerprint: str | None = None  # absent on markers written before version 2

    def matches(self, fingerprint: str | None) -> bool:
        """Whether a request with ``fingerprint`` is the one this key stands for
        (a marker or a job without a fingerprint cannot tell: taken as the same)."""
        return self.fingerprint is None or fingerprint is None or self.fingerprint == fingerprint


class IdempotencyMarkers(TableAdapter):
    """Markers read, and written with their job in one transaction."""

    def put_new_idempotent(self, job: Job, *, due_at: int, body: Item | None = None, also: Item | None = None) -> str:
        """Write a job that carries an idempotency key, unless that key was seen.

        One TransactWriteItems: the marker (conditional on being new, keeping
        the job's ``request_fingerprint``), the job and its body item (``body``). Returns the job id the
        key stands for: this job's, or the first one's. Raises
        ``IdempotencyKeyReused`` when the key stands for a different request
        (another writer got there first since ``idempotency_markers`` looked).
        """
        if job.idempotency_key is None:
            raise ValueError("put_new_idempotent needs a job with an idempotency_key")
        marker = serialize(
            {
                "pk": idempotency_pk(job.domain, job.idempotency_key),
                "target_job_id": job.job_id,
                "fingerprint": job.request_fingerprint,
                "expires_at": self.expires_at(job.created_at),
            }
        )
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": marker,
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(job, due_at=due_at, expires_at=self.expires_at(job.created_at)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        names = ["marker", "job"]
        if body is not None:
            items.append(
                {"Put": {"TableName": self._table, "Item": body, "ConditionExpression": "attribute_not_exists(pk)"}}
            )
            names.append("body")
        if also is not None:  # an audit entry: written only with the job
            items.append({"Put": {"TableName": self._table, "Item": also}})
            names.append("audit entry")
        for attempt in range(UNPROCESSED_RETRIES):
            try:
                self._client.transact_write_items(TransactItems=items)
                return job.job_id
            except (ClientError, BotoCoreError) as exc:
                if not isinstance(exc, ClientError) or error_code(exc) != "TransactionCanceledException":
                    raise storage_error("TransactWriteItems", exc) from exc
                reasons = exc.response.get("CancellationReasons") or []
                first = reasons[0] if reasons else {}
                if first.get("Code") == "ConditionalCheckFailed" and "Item" in first:
                    found = IdempotencyMarker.model_validate(deserialize(first["Item"]))
                    if not found.matches(job.request_fingerprint):
                        raise IdempotencyKeyReused(job.domain, job.idempotency_key) from None
                    return found.target_job_id
                refused = refusals(reasons, names)
                if refused:
                    # Trying the same transaction again cannot change these answers.
                    raise StorageError(f"TransactWriteItems refused: {refused}") from None
                # A conflicting transaction on the same key (or throttling): try
                # again shortly; if the other won, the next try finds its marker.
                backoff(attempt)
        raise StorageError("TransactWriteItems kept conflicting")

    def idempotency_markers(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], IdempotencyMarker]:
        """The markers of those ``(domain, key)`` pairs (unique) that were seen,
        100 keys per BatchGetItem (strongly consistent), retrying what comes
        back unprocessed. Reads the markers only, never a job."""
        wanted = {idempotency_pk(domain, key): (domain, key) for domain, key in keys}
        pks = list(wanted)
        found: dict[tuple[str, str], IdempotencyMarker] = {}
        for start in range(0, len(pks), BATCH_GET_LIMIT):
            chunk = [{"pk": {"S": pk}} for pk in pks[start : start + BATCH_GET_LIMIT]]
            for item in self._batch_get_items(chunk, projection="pk, target_job_id, fingerprint"):
                found[wanted[item["pk"]]] = IdempotencyMarker.model_validate(item)
        return found

    def _batch_get_items(self, keys: list[Any], *, projection: str) -> list[dict[str, Any]]:
        """The items (deserialized) of up to 100 keys that exist, read consistently."""
        raws = batch_get(self._client, self._table, keys, operation="BatchGetItem", projection=projection)
        return [deserialize(raw) for raw in raws]
