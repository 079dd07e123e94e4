"""The statistics counters of ``GET /stats`` (docs/storage.md, section 3;
docs/adr/0084-statistics-counters.md): items of the jobs table, one per
(domain, created day, type, shard), each holding a number per status.

A batch's changes (``StatusTally``) are written in one ``TransactWriteItems``
of ``ADD`` updates: each counter of the batch once, in one shard chosen for
the whole write, and its platform counter (``PLATFORM``, for a ``*`` caller)
beside it. The transaction carries a ``ClientRequestToken`` made from the
batch's changes, so a retry of the same write (botocore's, or ours after a
conflict) within DynamoDB's 10 minutes adds nothing twice. Reads are
strongly consistent ``BatchGetItem``s of every shard of the days asked; the
shards are summed on read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters.attribute_values import deserialize, serialize
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
from common.models.clock import epoch_seconds
from common.models.errors import StorageError
from common.models.job import JobType
from common.models.stats import PLATFORM, STATS_STATUSES, CounterKey, StatusTally

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

# Shards of each counter: a write lands on one, a read sums them all. Four keep
# a busy domain's day (or the platform's) under a partition's 1,000 WRU a second
# (docs/storage.md, section 11).
SHARDS = 4
TRANSACTION_LIMIT = 100  # AWS: at most 100 items per TransactWriteItems
_DAY = timedelta(days=1)


def counter_pk(domain: str, day: date, job_type: JobType | str, shard: int) -> str:
    return f"st#{domain}#{day.isoformat()}#{JobType(job_type).value}#{shard}"


def _token(updates: Sequence[tuple[str, dict[str, int]]], salt: str) -> tuple[str, int]:
    """The write's idempotency token (DynamoDB: 1-36 characters) and its shard,
    both from what it adds: the same changes retried are the same request."""
    digest = hashlib.sha256((salt + json.dumps(updates, sort_keys=True)).encode()).hexdigest()
    return digest[:36], int(digest[36:44], 16) % SHARDS


class StatsCounters(TableAdapter):
    """The counters: a batch's changes added, and a range of days read."""

    def add(self, tally: StatusTally, *, salt: str = "") -> int:
        """Add a tally's non-zero changes: one ``TransactWriteItems`` per 100
        counter items (a domain's counter and the platform's for each
        (domain, day, type) changed, in one shard). ``salt`` tells two
        batches with the same changes apart (the caller's batch id). Returns
        the number of transactions written; raises ``StorageError`` when one
        failed (the counts written before stay)."""
        per_key: dict[CounterKey, dict[str, int]] = {}
        for key, counts in tally.deltas():
            for target in (key, key._replace(domain=PLATFORM)):
                merged = per_key.setdefault(target, {})
                for status, n in counts.items():
                    merged[status] = merged.get(status, 0) + n
        updates = sorted(
            (
                (f"{key.domain}#{key.day.isoformat()}#{key.type.value}", {s: n for s, n in counts.items() if n})
                for key, counts in per_key.items()
            ),
            key=lambda pair: pair[0],
        )
        keys = {f"{key.domain}#{key.day.isoformat()}#{key.type.value}": key for key in per_key}
        written = 0
        for start in range(0, len(updates), TRANSACTION_LIMIT):
            chunk = [pair for pair in updates[start : start + TRANSACTION_LIMIT] if pair[1]]
            if not chunk:
                continue
            token, shard = _token(chunk, f"{salt}#{start}")
            items = [self._update(keys[name], counts, shard) for name, counts in chunk]
            self._transact(items, token)
            written += 1
        return written

    def _update(self, key: CounterKey, counts: dict[str, int], shard: int) -> TransactWriteItemTypeDef:
        names = {"#d": "domain", "#y": "day", "#t": "type"}
        values: dict[str, Any] = {
            ":d": key.domain,
            ":y": key.day.isoformat(),
            ":t": key.type.value,
            ":x": epoch_seconds(_midnight_after(key.day)) + int(self._retention.total_seconds()),
        }
        adds = []
        for n, (status, delta) in enumerate(sorted(counts.items())):
            names[f"#s{n}"] = status
            values[f":s{n}"] = delta
            adds.append(f"#s{n} :s{n}")
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": counter_pk(key.domain, key.day, key.type, shard)}},
                "UpdateExpression": "SET #d = :d, #y = :y, #t = :t, expires_at = :x ADD " + ", ".join(adds),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": serialize(values),
            }
        }

    def _transact(self, items: list[TransactWriteItemTypeDef], token: str) -> None:
        for attempt in range(UNPROCESSED_RETRIES):
            try:
                self._client.transact_write_items(TransactItems=items, ClientRequestToken=token)
                return
            except (ClientError, BotoCoreError) as exc:
                if not isinstance(exc, ClientError) or error_code(exc) != "TransactionCanceledException":
                    raise storage_error("TransactWriteItems (counters)", exc) from exc
                refused = refusals(exc.response.get("CancellationReasons") or [], [])
                if refused:
                    raise StorageError(f"TransactWriteItems (counters) refused: {refused}") from None
                # A concurrent write to one of these counters, or throttling:
                # the same request again (same token) adds once.
                backoff(attempt)
        raise StorageError("TransactWriteItems (counters) kept conflicting")

    def read(self, domains: Iterable[str], first: date, last: date) -> dict[CounterKey, dict[str, int]]:
        """Every counter of ``domains`` (``PLATFORM`` for every domain) for
        each day from ``first`` to ``last`` and each type, its shards summed;
        a counter never written is absent."""
        wanted: list[str] = []
        day = first
        while day <= last:
            for domain in domains:
                for job_type in JobType:
                    wanted += [counter_pk(domain, day, job_type, shard) for shard in range(SHARDS)]
            day += _DAY
        found: dict[CounterKey, dict[str, int]] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            keys = [{"pk": {"S": pk}} for pk in wanted[start : start + BATCH_GET_LIMIT]]
            for raw in batch_get(self._client, self._table, keys, operation="BatchGetItem (counters)"):
                item = deserialize(raw)
                key = CounterKey(str(item["domain"]), date.fromisoformat(str(item["day"])), JobType(item["type"]))
                counts = found.setdefault(key, {})
                for status in STATS_STATUSES:
                    if status in item:
                        counts[status] = counts.get(status, 0) + int(item[status])
        return found


def _midnight_after(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + _DAY
