"""What a million emails cost in AWS, item by billed item, from what a case
used (figure 6, ``benchmarks.writes``), and the item sizes and index rules
the replay (``benchmarks.ledger``) counts write units with.

Every item AWS bills for an email is priced, each from a measured usage:

- SES: one email each;
- DynamoDB: write and read request units (the replay), storage of the items
  and index entries an email leaves for ``RetentionDays`` (100 bytes of
  overhead each, as DynamoDB counts them) and point-in-time recovery of the
  same bytes;
- SQS: every request on every queue, the SES events queue included (the
  messages EventBridge puts on it for SES's events too);
- S3: the bodies' PUT and GET requests and their storage until they expire;
- Lambda: requests and GB-seconds at the durations measured, waits included;
- CloudWatch Logs: the bytes the functions wrote per email, with 26 bytes a
  log event and Lambda's own lines (START, END, REPORT) per invocation;
- EventBridge: SES's events on the default bus;
- Secrets Manager: the calls measured.

What does not grow with emails (the secrets and the alarm topic's key by the
month, KMS requests DynamoDB makes for the table's AWS managed key, the event
source mappings' empty long polls, alarms, the dashboard) is priced by the
month, apart (``fixed_monthly``).

A DynamoDB write costs one write request unit (WRU) per KB of the item, and
each global secondary index the write touches costs more, per KB of its
index entry (``Index.writes``):

- an entry that appears (its key attributes become present) is one write;
- one that disappears is one write;
- one whose key changes is two (the old entry deleted, the new one put);
- one whose key stays but whose projected attributes change is one;
- otherwise nothing.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.template import load_template

PRICES_AS_OF = "2024-2025"
PRICES_REGION = "us-east-1"
# (price, how the page states it, where it is published)
PRICES: dict[str, tuple[float, str, str]] = {
    "ses_email": (0.10 / 1000, "SES outbound email: $0.10 per 1,000 emails", "https://aws.amazon.com/ses/pricing/"),
    "dynamodb_wru": (
        0.625 / 1e6,
        "DynamoDB on-demand: $0.625 per million write request units",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
    "dynamodb_rru": (
        0.125 / 1e6,
        "DynamoDB on-demand: $0.125 per million read request units",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
    "dynamodb_storage": (
        0.25,
        "DynamoDB storage (Standard table class): $0.25 per GB-month",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
    "dynamodb_pitr": (
        0.20,
        "DynamoDB point-in-time recovery: $0.20 per GB-month of table size",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ),
    "sqs_request": (
        0.40 / 1e6,
        "SQS standard queues: $0.40 per million requests (each 64 KB chunk one request)",
        "https://aws.amazon.com/sqs/pricing/",
    ),
    "s3_put": (0.005 / 1000, "S3 Standard: $0.005 per 1,000 PUT requests", "https://aws.amazon.com/s3/pricing/"),
    "s3_get": (0.0004 / 1000, "S3 Standard: $0.0004 per 1,000 GET requests", "https://aws.amazon.com/s3/pricing/"),
    "s3_storage": (0.023, "S3 Standard storage: $0.023 per GB-month", "https://aws.amazon.com/s3/pricing/"),
    "lambda_request": (0.20 / 1e6, "Lambda: $0.20 per million requests", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_gb_second": (
        0.0000133334,
        "Lambda, arm64: $0.0000133334 per GB-second",
        "https://aws.amazon.com/lambda/pricing/",
    ),
    "logs_ingested": (
        0.50,
        "CloudWatch Logs (Lambda's logs, first 10 TB): $0.50 per GB ingested",
        "https://aws.amazon.com/cloudwatch/pricing/",
    ),
    "logs_stored": (
        0.03,
        "CloudWatch Logs storage: $0.03 per GB-month (compressed)",
        "https://aws.amazon.com/cloudwatch/pricing/",
    ),
    "eventbridge_event": (
        1.00 / 1e6,
        "EventBridge event bus: $1.00 per million events ingested (64 KB chunks), the price of custom and"
        " opt-in events; AWS management events are free",
        "https://aws.amazon.com/eventbridge/pricing/",
    ),
    "secrets_call": (
        0.05 / 10_000,
        "Secrets Manager: $0.05 per 10,000 API calls",
        "https://aws.amazon.com/secrets-manager/pricing/",
    ),
    "secret_month": (
        0.40,
        "Secrets Manager: $0.40 per secret per month",
        "https://aws.amazon.com/secrets-manager/pricing/",
    ),
    "kms_request": (0.03 / 10_000, "KMS: $0.03 per 10,000 requests", "https://aws.amazon.com/kms/pricing/"),
    "kms_key_month": (1.00, "KMS: $1 per customer managed key per month", "https://aws.amazon.com/kms/pricing/"),
    "alarm_month": (
        0.10,
        "CloudWatch: $0.10 per standard-resolution alarm metric per month",
        "https://aws.amazon.com/cloudwatch/pricing/",
    ),
    "dashboard_month": (3.00, "CloudWatch: $3 per dashboard per month", "https://aws.amazon.com/cloudwatch/pricing/"),
}
# The prices alone, by key: what every cost below multiplies by (built once).
PRICE: dict[str, float] = {key: value for key, (value, _, _) in PRICES.items()}
KB = 1024
GB = 1024**3
MILLION = 1_000_000
DAYS_A_MONTH = 30.4375  # AWS bills a GB-month over the month's hours; a year of 365.25 days over 12
ITEM_OVERHEAD_BYTES = 100  # DynamoDB stores each item and each index entry with 100 bytes more
LOG_EVENT_OVERHEAD_BYTES = 26  # CloudWatch Logs counts 26 bytes a log event on top of its message
# Lambda's own lines per invocation (START, END, REPORT), as Lambda's runtime writes them
# with a 36-character request id: about 60, 50 and 200 bytes, each a log event.
LAMBDA_LINES_BYTES = 60 + 50 + 200 + 3 * LOG_EVENT_OVERHEAD_BYTES
# How long DynamoDB keeps a caller's plaintext table key before it asks KMS again
# (the AWS managed key aws/dynamodb the table's SSESpecification names: KMS requests are billed).
KMS_TABLE_KEY_SECONDS = 300

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


def stored_bytes(item: Item, table_keys: tuple[str, ...], indexes: list[Index]) -> int:
    """What DynamoDB stores (and bills) for one item: the item and each index entry
    it has, 100 bytes of overhead each."""
    total = item_size(item) + ITEM_OVERHEAD_BYTES
    for index in indexes:
        entry = index.entry(item, table_keys)
        if entry is not None:
            total += item_size(entry) + ITEM_OVERHEAD_BYTES
    return total


# ---------------------------------------------------------------- what a case used, priced
@dataclass(frozen=True)
class CaseUsage:
    """Everything one case of figure 6 used, per email (``benchmarks.writes`` measures it)."""

    name: str
    emails: int
    dynamodb_wru: float
    dynamodb_rru: float
    stored_bytes: float  # table items and index entries the email leaves, overhead included
    s3_puts: float
    s3_gets: float
    s3_bytes: float  # bodies stored in S3
    sqs_requests: float
    lambda_requests: float
    lambda_gb_seconds: float
    log_bytes: float  # CloudWatch Logs ingestion: the functions' output, events' overhead, Lambda's lines
    eventbridge_events: float  # SES's events on the default bus
    secrets_calls: float
    retention_days: float  # how long an email's items and body are kept (RetentionDays)
    notes: tuple[str, ...] = ()  # where a figure came from, when not this case's own stretch
    table_wru: float | None = None  # of ``dynamodb_wru``, the table's own (the rest: its indexes)

    @property
    def retention_months(self) -> float:
        return self.retention_days / DAYS_A_MONTH

    def costs(self) -> dict[str, float]:
        """US dollars per million emails, by billed item."""
        p, months = PRICE, self.retention_months
        return {
            "SES": MILLION * p["ses_email"],
            "DynamoDB writes": MILLION * self.dynamodb_wru * p["dynamodb_wru"],
            "DynamoDB reads": MILLION * self.dynamodb_rru * p["dynamodb_rru"],
            "DynamoDB storage": MILLION * self.stored_bytes / GB * months * p["dynamodb_storage"],
            "DynamoDB point-in-time recovery": MILLION * self.stored_bytes / GB * months * p["dynamodb_pitr"],
            "SQS": MILLION * self.sqs_requests * p["sqs_request"],
            "S3 requests": MILLION * (self.s3_puts * p["s3_put"] + self.s3_gets * p["s3_get"]),
            "S3 storage": MILLION * self.s3_bytes / GB * months * p["s3_storage"],
            "Lambda": MILLION
            * (self.lambda_requests * p["lambda_request"] + self.lambda_gb_seconds * p["lambda_gb_second"]),
            "CloudWatch Logs": MILLION * self.log_bytes / GB * p["logs_ingested"],
            "EventBridge": MILLION * self.eventbridge_events * p["eventbridge_event"],
            "Secrets Manager": MILLION * self.secrets_calls * p["secrets_call"],
        }

    @property
    def total(self) -> float:
        return sum(self.costs().values())

    @property
    def ratio_to_ses(self) -> float:
        return self.total / self.costs()["SES"]

    def usage_rows(self) -> dict[str, str]:
        """The usage each cost is priced from, per email, as the page shows it."""
        return {
            "DynamoDB write units": f"{self.dynamodb_wru:.2f}",
            "DynamoDB read units": f"{self.dynamodb_rru:.2f}",
            "DynamoDB bytes stored (items and index entries)": f"{self.stored_bytes:,.0f}",
            "SQS requests": f"{self.sqs_requests:.3f}",
            "S3 PUT / GET": f"{self.s3_puts:.3f} / {self.s3_gets:.3f}",
            "S3 bytes stored": f"{self.s3_bytes:,.0f}",
            "Lambda requests": f"{self.lambda_requests:.3f}",
            "Lambda GB-seconds": f"{self.lambda_gb_seconds:.4f}",
            "CloudWatch Logs bytes ingested": f"{self.log_bytes:,.0f}",
            "EventBridge events": f"{self.eventbridge_events:.2f}",
            "Secrets Manager calls": f"{self.secrets_calls:.4f}",
        }


def what_it_would_take(case: CaseUsage, goal: float) -> str:
    """Why ``case`` is over ``goal`` (its cost ÷ SES's price) and what reaching it would take:
    the dollars per million emails beyond SES against the goal's allowance, every billed item
    beyond SES with its share of them, then the cuts that would pay the difference, each alone
    (every other item as measured): DynamoDB's writes, and its index writes apart."""
    costs = case.costs()
    ses = costs["SES"]
    beyond = case.total - ses
    allowed = (goal - 1) * ses
    shed = beyond - allowed
    if shed <= 0:
        return f"{case.name}: ${beyond:,.2f} beyond SES's ${ses:,.2f}, within the goal's ${allowed:,.2f}"
    items = sorted(((k, v) for k, v in costs.items() if k != "SES" and v >= 0.005), key=lambda kv: -kv[1])
    shares = ", ".join(f"{k} ${v:,.2f} ({v / beyond:.0%})" for k, v in items)
    price = MILLION * PRICE["dynamodb_wru"]
    writes = costs["DynamoDB writes"]
    if shed < writes:
        cut = (
            f"DynamoDB's writes alone would have to fall from {case.dynamodb_wru:.2f} to"
            f" {(writes - shed) / price:.1f} write units per email"
        )
        needed = (writes - shed) / price
        if case.table_wru is not None and needed < case.table_wru:
            cut += (
                f", below the table's own {case.table_wru:.2f} (the send path's create, claim, outcome and"
                " delivery writes, and a body item): not reached even with no index at all"
            )
        elif case.table_wru is not None:
            cut += (
                f": beside the table's own {case.table_wru:.2f} (the send path's create, claim, outcome and"
                f" delivery writes), {needed - case.table_wru:.1f} of the indexes'"
                f" {case.dynamodb_wru - case.table_wru:.2f}"
            )
    else:
        cut = f"more than DynamoDB's writes altogether (${writes:,.2f}): no cut of the writes alone reaches it"
    return (
        f"{case.name}: ${beyond:,.2f} beyond SES's ${ses:,.2f} against the goal's ${allowed:,.2f},"
        f" ${shed:,.2f} to shed; beyond SES: {shares}; to shed it, {cut}"
    )


def log_bytes_per_email(written: int, lines: int, invocations: int, emails: int) -> float:
    """CloudWatch Logs' ingested bytes per email: what the functions wrote, 26 bytes
    per log event (one per line), and Lambda's own three lines per invocation."""
    if emails <= 0:
        return 0.0
    return (written + lines * LOG_EVENT_OVERHEAD_BYTES + invocations * LAMBDA_LINES_BYTES) / emails


# ---------------------------------------------------------------- by the month, whatever the volume
@dataclass(frozen=True)
class FixedItem:
    what: str
    dollars_a_month: float
    basis: str


def fixed_monthly(template: Mapping[str, Any] | None = None) -> list[FixedItem]:
    """What the stack costs a month whatever it sends, from the template's resources.
    Each SQS event source keeps long polls open while its queue is empty: Lambda's
    pollers for a queue start at 5, each a 20-second receive."""
    resources = (template or load_template()).get("Resources", {})

    def count(kind: str) -> int:
        return sum(1 for r in resources.values() if r.get("Type") == kind)

    event_sources = sum(
        1
        for r in resources.values()
        if r.get("Type") == "AWS::Serverless::Function"
        for e in ((r.get("Properties") or {}).get("Events") or {}).values()
        if e.get("Type") == "SQS"
    )

    functions = count("AWS::Serverless::Function")
    seconds = DAYS_A_MONTH * 24 * 3600
    idle_receives = event_sources * 5 * seconds / 20
    kms_requests = functions * seconds / KMS_TABLE_KEY_SECONDS
    return [
        FixedItem(
            "Secrets Manager secrets",
            count("AWS::SecretsManager::Secret") * PRICE["secret_month"],
            f"{count('AWS::SecretsManager::Secret')} secrets",
        ),
        FixedItem(
            "KMS customer managed keys", count("AWS::KMS::Key") * PRICE["kms_key_month"], "the alarm topic's key"
        ),
        FixedItem(
            "KMS requests for the tables' AWS managed key",
            kms_requests * PRICE["kms_request"],
            f"at most one request every {KMS_TABLE_KEY_SECONDS // 60} minutes per function's role ({functions} roles)",
        ),
        FixedItem(
            "SQS: the event source mappings' empty long polls",
            idle_receives * PRICE["sqs_request"],
            f"{event_sources} queues x 5 pollers, a 20-second receive each",
        ),
        FixedItem("CloudWatch alarms", count("AWS::CloudWatch::Alarm") * PRICE["alarm_month"], "one metric each"),
        FixedItem("CloudWatch dashboard", count("AWS::CloudWatch::Dashboard") * PRICE["dashboard_month"], ""),
    ]
