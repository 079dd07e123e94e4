"""What a million emails cost in AWS, from the measured counts: the model
figure 6 (``benchmarks.writes``) prices its cases with, and the item sizes
and index rules the replay (``benchmarks.ledger``) counts units with.

DynamoDB is the only service whose price depends on more than the number of
calls: a write costs one write request unit (WRU) per KB of the item, and
each global secondary index the write touches costs more, per KB of its
index entry. Those are worked out from the job's real items at each step of
its life (as created, as claimed, as sent: read from the request log, the
claim's own response and the table) and from the indexes ``template.yaml``
defines. For an index:

- an entry that appears (its key attributes become present) is one write;
- one that disappears is one write;
- one whose key changes is two (the old entry deleted, the new one put);
- one whose key stays but whose projected attributes change is one;
- otherwise nothing.

Lambda time is measured on this machine (not Lambda's), at the template's
memory size. Prices are public list prices: see ``PRICES``.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from local.template import load_template

PRICES_AS_OF = "November 2024"
PRICES_REGION = "us-east-1"
PRICES: dict[str, tuple[float, str]] = {
    "lambda_gb_second": (0.0000133334, "Lambda, arm64: $0.0000133334 per GB-second"),
    "lambda_request": (0.20 / 1e6, "Lambda: $0.20 per million requests"),
    "dynamodb_wru": (0.625 / 1e6, "DynamoDB on-demand: $0.625 per million write request units"),
    "dynamodb_rru": (0.125 / 1e6, "DynamoDB on-demand: $0.125 per million read request units"),
    "sqs_request": (0.40 / 1e6, "SQS standard queues: $0.40 per million requests (64 KB chunks)"),
    "ses_email": (0.10 / 1000, "SES outbound email: $0.10 per 1,000 emails"),
    "s3_put": (0.005 / 1000, "S3 Standard: $0.005 per 1,000 PUT requests"),
    "s3_get": (0.0004 / 1000, "S3 Standard: $0.0004 per 1,000 GET requests"),
}
# The prices alone, by key: what every cost below multiplies by (built once).
PRICE: dict[str, float] = {key: value for key, (value, _) in PRICES.items()}
KB = 1024
MILLION = 1_000_000

Item = Mapping[str, Any]  # DynamoDB JSON: {"name": {"S": "..."}}


# ---------------------------------------------------------------- item sizes
def value_size(value: Mapping[str, Any]) -> int:
    """DynamoDB's size of one attribute value."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        digits = str(raw).lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(base64.b64decode(raw))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_size(element) + 1 for element in raw)
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_size(element) + 1 for name, element in raw.items())
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: element}) for element in raw)
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: Item) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def units(size: int) -> int:
    """Write request units for an item of ``size`` bytes (1 KB each, at least one)."""
    return max(1, math.ceil(size / KB))


# ---------------------------------------------------------------- indexes
@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projected: frozenset[str] | None  # None: every attribute

    def entry(self, item: Item | None, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
        if item is None or any(key not in item for key in self.keys):
            return None
        names = set(self.keys) | set(table_keys)
        if self.projected is None:
            return dict(item)
        names |= self.projected
        return {name: item[name] for name in names if name in item}

    def writes(self, before: Item | None, after: Item | None, table_keys: tuple[str, ...]) -> int:
        old, new = self.entry(before, table_keys), self.entry(after, table_keys)
        if old is None and new is None:
            return 0
        if old is None and new is not None:
            return units(item_size(new))
        if new is None and old is not None:
            return units(item_size(old))
        if old is None or new is None:  # pragma: no cover - narrowed above
            return 0
        if any(old.get(key) != new.get(key) for key in self.keys):
            return units(item_size(old)) + units(item_size(new))
        return units(item_size(new)) if old != new else 0


def table_indexes(logical: str = "JobsTable") -> tuple[tuple[str, ...], list[Index]]:
    """The table's key attributes and its global secondary indexes, from the template."""
    properties = load_template()["Resources"][logical]["Properties"]
    table_keys = tuple(key["AttributeName"] for key in properties["KeySchema"])
    indexes: list[Index] = []
    for gsi in properties.get("GlobalSecondaryIndexes", []):
        projection = gsi.get("Projection", {})
        kind = projection.get("ProjectionType", "ALL")
        projected: frozenset[str] | None
        if kind == "ALL":
            projected = None
        elif kind == "KEYS_ONLY":
            projected = frozenset()
        else:
            projected = frozenset(projection.get("NonKeyAttributes", []))
        indexes.append(Index(gsi["IndexName"], tuple(k["AttributeName"] for k in gsi["KeySchema"]), projected))
    return table_keys, indexes


def index_names(logical: str = "JobsTable") -> tuple[str, ...]:
    """The names of the table's global secondary indexes, in the template's order."""
    return tuple(index.name for index in table_indexes(logical)[1])


# ---------------------------------------------------------------- a job's writes
@dataclass(frozen=True)
class Step:
    name: str
    table: float
    indexes: dict[str, int]

    @property
    def total(self) -> float:
        return self.table + sum(self.indexes.values())


@dataclass(frozen=True)
class JobWrites:
    """Write request units of one job's life, step by step."""

    created: Item
    claimed: Item
    sent: Item
    marker: Item | None
    steps: list[Step]
    keyed_create: Step | None

    def total(self, *, keyed: bool = False) -> float:
        steps = self.steps[1:] if keyed and self.keyed_create else self.steps
        extra = self.keyed_create.total if keyed and self.keyed_create else 0.0
        return sum(step.total for step in steps) + extra

    def by_index(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for step in self.steps:
            for index, n in step.indexes.items():
                totals[index] = totals.get(index, 0) + n
        return totals


def job_writes(created: Item, claimed: Item, sent: Item, marker: Item | None) -> JobWrites:
    table_keys, indexes = table_indexes()

    def step(name: str, before: Item | None, after: Item, table_units: float) -> Step:
        return Step(name, table_units, {i.name: i.writes(before, after, table_keys) for i in indexes})

    size_created, size_claimed, size_sent = item_size(created), item_size(claimed), item_size(sent)
    steps = [
        step("create (BatchWriteItem)", None, created, units(size_created)),
        step("claim (UpdateItem)", created, claimed, units(max(size_created, size_claimed))),
        step("sent (UpdateItem)", claimed, sent, units(max(size_claimed, size_sent))),
    ]
    keyed = None
    if marker is not None:
        # A transaction costs two units per KB of each item it writes.
        keyed = step(
            "create with key (TransactWriteItems)", None, created, 2 * (units(size_created) + units(item_size(marker)))
        )
    return JobWrites(created, claimed, sent, marker, steps, keyed)


# ---------------------------------------------------------------- paths
@dataclass(frozen=True)
class EmailPath:
    """One way an email goes through the service, per email."""

    name: str
    lambda_requests: float
    lambda_gb_seconds: float
    dynamodb_wru: float
    dynamodb_rru: float
    sqs_requests: float

    def costs(self) -> dict[str, float]:
        """US dollars per million emails, by service."""
        p = PRICE
        return {
            "Lambda": MILLION
            * (self.lambda_requests * p["lambda_request"] + self.lambda_gb_seconds * p["lambda_gb_second"]),
            "DynamoDB": MILLION * (self.dynamodb_wru * p["dynamodb_wru"] + self.dynamodb_rru * p["dynamodb_rru"]),
            "SQS": MILLION * self.sqs_requests * p["sqs_request"],
            "SES": MILLION * p["ses_email"],
        }

    @property
    def total(self) -> float:
        return sum(self.costs().values())

    @property
    def ratio_to_ses(self) -> float:
        return self.total / self.costs()["SES"]


@dataclass(frozen=True)
class CostInputs:
    memory_gb: float
    enqueue_ms: float  # one email per Invoke
    enqueue_keyed_ms: float
    bulk_ms: float  # one bulk send of bulk_size
    bulk_size: int
    worker_single_ms: float  # a batch of one
    worker_batch_ms: float  # a full batch
    worker_invocations_per_email: float  # in a bulk send's drain
    sqs_per_email_alone: float  # SendMessageBatch of one, a receive and a delete
    sqs_per_email_bulk: float  # SendMessageBatch + receives + deletes, per email of a bulk send
    idempotency_wru_per_bulk: float


def paths(inputs: CostInputs, writes: JobWrites) -> list[EmailPath]:
    gb = inputs.memory_gb
    alone = EmailPath(
        name="one email per Invoke, sent alone",
        lambda_requests=2,
        lambda_gb_seconds=gb * (inputs.enqueue_ms + inputs.worker_single_ms) / 1000,
        dynamodb_wru=writes.total(),
        dynamodb_rru=0,
        sqs_requests=inputs.sqs_per_email_alone,
    )
    keyed = EmailPath(
        name="the same, with an idempotency key",
        lambda_requests=2,
        lambda_gb_seconds=gb * (inputs.enqueue_keyed_ms + inputs.worker_single_ms) / 1000,
        dynamodb_wru=writes.total(keyed=True),
        dynamodb_rru=0,
        sqs_requests=inputs.sqs_per_email_alone,
    )
    bulk = EmailPath(
        name=f"bulk send of {inputs.bulk_size:,}",
        lambda_requests=1 / inputs.bulk_size + inputs.worker_invocations_per_email,
        lambda_gb_seconds=gb
        * (inputs.bulk_ms / inputs.bulk_size + inputs.worker_invocations_per_email * inputs.worker_batch_ms)
        / 1000,
        dynamodb_wru=writes.total() + inputs.idempotency_wru_per_bulk / inputs.bulk_size,
        dynamodb_rru=0,
        sqs_requests=inputs.sqs_per_email_bulk,
    )
    return [alone, keyed, bulk]


def idempotency_units(bodies: Sequence[Mapping[str, Any]]) -> float:
    """Write units of the idempotency layer's writes of one bulk send, from their requests
    (an UpdateItem's new values stand for the item it leaves)."""
    total = 0.0
    for body in bodies:
        if "Item" in body:
            total += units(item_size(body["Item"]))
        else:
            total += units(item_size({**body.get("Key", {}), **body.get("ExpressionAttributeValues", {})}))
    return total


# ---------------------------------------------------------------- the three cases of figure 6
@dataclass(frozen=True)
class CaseCost:
    """A million emails of one of figure 6's cases: DynamoDB and S3 from that case's
    recorded requests, SQS and Lambda from the measured path it runs like."""

    name: str
    dynamodb_wru: float  # per email
    dynamodb_rru: float
    s3_puts: float
    s3_gets: float
    path: EmailPath

    def costs(self) -> dict[str, float]:
        p = PRICE
        measured = self.path.costs()
        return {
            "SES": measured["SES"],
            "DynamoDB writes": MILLION * self.dynamodb_wru * p["dynamodb_wru"],
            "DynamoDB reads": MILLION * self.dynamodb_rru * p["dynamodb_rru"],
            "S3 requests": MILLION * (self.s3_puts * p["s3_put"] + self.s3_gets * p["s3_get"]),
            "SQS": measured["SQS"],
            "Lambda": measured["Lambda"],
        }

    @property
    def total(self) -> float:
        return sum(self.costs().values())

    @property
    def ratio_to_ses(self) -> float:
        return self.total / self.costs()["SES"]
