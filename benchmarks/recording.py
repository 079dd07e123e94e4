"""The embedded AWS's own request log (moto's recorder), read as calls per
service and action.

Moto appends one JSON object per request it serves to the file named by
``MOTO_RECORDER_FILEPATH`` while recording is on (``/moto-api/recorder/``).
A request is attributed by its signature's credential scope (the service)
and by ``X-Amz-Target`` (JSON protocols), the ``Action`` parameter (query
protocol) or its method and path (REST). Requests without an AWS signature
(moto's own API) and the benchmarks' own requests (their User-Agent carries
``BENCH_AGENT``) are left out.

The recorder logs requests, not responses: what a response held (how many
messages a receive returned, how many items a query read) comes from
``SdkObserver`` instead.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from benchmarks.cost import index_names, item_size
from benchmarks.ledger import wire

BENCH_AGENT = "emailops-bench"
RECORDING_ENV = "MOTO_RECORDER_FILEPATH"

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
# REST operations the service uses (SES v2), by method and path.
_REST_ACTIONS = {
    ("POST", "/v2/email/outbound-emails"): "SendEmail",
}


@dataclass(frozen=True)
class Call:
    service: str
    action: str
    table: str | None = None  # physical table name, for DynamoDB


def _body(entry: Mapping[str, Any]) -> bytes:
    raw = entry.get("body") or ""
    if entry.get("body_encoded"):
        return base64.b64decode(raw)
    return raw.encode() if isinstance(raw, str) else bytes(raw)


def _json(body: bytes) -> dict[str, Any]:
    try:
        loaded = json.loads(body or b"{}")
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def table_of(body: Mapping[str, Any]) -> str | None:
    """The table a DynamoDB request is about (the first one, for batches)."""
    if isinstance(body.get("TableName"), str):
        return str(body["TableName"])
    items = body.get("RequestItems")
    if isinstance(items, dict) and items:
        return str(next(iter(items)))
    for item in body.get("TransactItems") or []:
        for operation in item.values():
            if isinstance(operation, dict) and "TableName" in operation:
                return str(operation["TableName"])
    return None


def parse_entry(entry: Mapping[str, Any]) -> tuple[Call, dict[str, Any]] | None:
    """A recorded request as a call and its JSON body; ``None`` when it is not
    an AWS API call of the service (moto's own API, the benchmarks' requests)."""
    headers = {str(k).lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
    if BENCH_AGENT in headers.get("user-agent", ""):
        return None
    scope = _SCOPE.search(headers.get("authorization", ""))
    if scope is None:
        return None
    service = scope.group(1)
    body = _body(entry)
    target = headers.get("x-amz-target")
    parsed: dict[str, Any] = {}
    if target:
        action = target.rsplit(".", 1)[-1]
        parsed = _json(body)
    else:
        query = parse_qs(urlsplit(str(entry.get("url", ""))).query)
        form = parse_qs(body.decode("utf-8", "replace")) if b"Action=" in body[:200] else {}
        if "Action" in form or "Action" in query:
            action = (form.get("Action") or query.get("Action") or [""])[0]
        else:
            path = urlsplit(str(entry.get("url", ""))).path
            method = str(entry.get("method", "")).upper()
            action = _REST_ACTIONS.get((method, path), f"{method} {path}")
            parsed = _json(body)
    table = table_of(parsed) if service == "dynamodb" else None
    return Call(service, action, table), parsed


def iter_entries(text: str) -> Iterator[dict[str, Any]]:
    """Every JSON object of a recording. Tolerant of lines that concurrent
    requests interleaved (the recorder appends without a lock)."""
    decoder = json.JSONDecoder()
    position, end = 0, len(text)
    while position < end:
        while position < end and text[position] in " \r\n\t":
            position += 1
        if position >= end:
            return
        try:
            value, position = decoder.raw_decode(text, position)
        except ValueError:
            # A partial object (still being written): skip to the next line.
            newline = text.find("\n", position)
            if newline < 0:
                return
            position = newline + 1
            continue
        if isinstance(value, dict):
            yield value


@dataclass
class Segment:
    """The calls of one stretch of the recording."""

    calls: Counter[Call] = field(default_factory=Counter)
    bodies: dict[Call, list[dict[str, Any]]] = field(default_factory=dict)
    # The kept requests in the order they were served (a replay needs it).
    requests: list[tuple[Call, dict[str, Any]]] = field(default_factory=list)


class MotoRecorder:
    """Moto's recorder, driven through its own API, read from its file."""

    def __init__(self, endpoint: str, path: Path, *, keep_bodies: frozenset[str] = frozenset()) -> None:
        self._endpoint = endpoint
        self._path = path
        self._keep = keep_bodies  # actions whose request bodies a segment keeps

    def _post(self, what: str) -> None:
        response = requests.post(f"{self._endpoint}/moto-api/recorder/{what}", timeout=10)
        response.raise_for_status()

    def start(self) -> None:
        self._post("reset-recording")
        self._post("start-recording")

    def stop(self) -> None:
        self._post("stop-recording")

    def mark(self) -> int:
        """A position in the recording: just after its last complete line."""
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            return 0
        return data.rfind(b"\n") + 1

    def segment(self, start: int, end: int) -> Segment:
        with self._path.open("rb") as handle:
            handle.seek(start)
            text = handle.read(max(end - start, 0)).decode("utf-8", "replace")
        segment = Segment()
        for entry in iter_entries(text):
            parsed = parse_entry(entry)
            if parsed is None:
                continue
            call, body = parsed
            segment.calls[call] += 1
            if call.action in self._keep:
                segment.bodies.setdefault(call, []).append(body)
                segment.requests.append((call, body))
        return segment


# ---------------------------------------------------------------- responses
def _items_read(parsed: Mapping[str, Any]) -> int:
    """The items a DynamoDB response read: a Query's or Scan's scanned items, a
    BatchGetItem's returned ones, a GetItem's one."""
    if "ScannedCount" in parsed or "Count" in parsed:
        return int(parsed.get("ScannedCount", parsed.get("Count", 0)) or 0)
    responses = parsed.get("Responses")
    if isinstance(responses, dict):
        return sum(len(items) for items in responses.values() if isinstance(items, list))
    return 1 if parsed.get("Item") else 0


def _size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it, from the SDK's parsed form."""
    return item_size(wire(dict(item)))


@dataclass(frozen=True)
class Observed:
    """Running totals of what responses held, at one moment."""

    receives_empty: int = 0
    receives_with_messages: int = 0
    messages_received: int = 0
    queries: int = 0
    items_read: int = 0  # ScannedCount of listing-index queries
    jobs_fetched: int = 0  # job items returned by BatchGetItem (a page's fetch)
    read_units: float = 0.0  # of those queries and fetches: per started 4 KB, halved (eventually consistent)
    query_read_units: float = 0.0  # of the queries alone
    dynamodb_requests: int = 0  # every DynamoDB request the functions made
    dynamodb_items: int = 0  # the items those requests read: scanned by a Query, returned by a get
    ses_sends: int = 0  # SES SendEmail calls SES accepted
    ses_throttled: int = 0  # SES SendEmail calls SES refused for its rate (TooManyRequestsException, 429)


@dataclass
class Tally:
    """The AWS calls one thread made while it was watched (``SdkObserver.watch``):
    requests by ``service:Operation`` and the items its reads returned or scanned."""

    requests: Counter[str] = field(default_factory=Counter)
    items_read: int = 0
    messages_sent: int = 0  # SQS messages it sent (SendMessage, and each entry of SendMessageBatch)

    @property
    def dynamodb_requests(self) -> int:
        return sum(n for name, n in self.requests.items() if name.startswith("dynamodb:"))


class SdkObserver:
    """Hooks on the botocore session every client of this process is made from
    (the functions', the pollers'): counts what the recorder cannot see."""

    LISTING_INDEXES = frozenset(index_names())  # every index of JobsTable, from template.yaml

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals = Observed()
        self.claimed_item: dict[str, Any] | None = None  # one claim's ALL_NEW item, as a sample
        self._armed = False
        self._thread = threading.local()
        self._indexes: Counter[str] = Counter()  # Queries by index name (table: "")

    def indexes(self) -> Counter[str]:
        """Queries made so far, by index."""
        with self._lock:
            return Counter(self._indexes)

    def watch(self) -> Tally:
        """From now on, count this thread's calls into the returned tally (until ``unwatch``)."""
        tally = Tally()
        self._thread.tally = tally
        return tally

    def unwatch(self) -> None:
        self._thread.tally = None

    def arm_claim_sample(self) -> None:
        """Keep the next claim's item (if none is kept yet)."""
        with self._lock:
            self._armed = self.claimed_item is None

    def install(self, events: Any) -> None:
        events.register("before-parameter-build.dynamodb.Query", self._before_query)
        events.register("after-call.sqs.ReceiveMessage", self._on_receive)
        events.register("after-call.dynamodb.Query", self._on_query)
        events.register("after-call.dynamodb.UpdateItem", self._on_update)
        events.register("before-parameter-build.dynamodb.BatchGetItem", self._before_batch_get)
        events.register("after-call.dynamodb.BatchGetItem", self._on_batch_get)
        events.register("after-call.sesv2.SendEmail", self._on_send)
        events.register("after-call", self._on_any_call)
        events.register("before-parameter-build.sqs.SendMessage", self._before_send_message)
        events.register("before-parameter-build.sqs.SendMessageBatch", self._before_send_message)

    def snapshot(self) -> Observed:
        with self._lock:
            return self._totals

    def _add(self, **deltas: float) -> None:
        with self._lock:
            values = {name: getattr(self._totals, name) + deltas.get(name, 0) for name in Observed.__dataclass_fields__}
            self._totals = Observed(**values)

    def _on_send(self, parsed: Mapping[str, Any], **_: Any) -> None:
        code = str((parsed.get("Error") or {}).get("Code", ""))
        if not code:
            self._add(ses_sends=1)
        elif code in ("TooManyRequestsException", "Throttling", "ThrottlingException"):
            self._add(ses_throttled=1)

    def _on_any_call(self, parsed: Mapping[str, Any], model: Any, **_: Any) -> None:
        service = str(getattr(getattr(model, "service_model", None), "service_name", "") or "")
        items = _items_read(parsed)
        if service == "dynamodb":
            self._add(dynamodb_requests=1, dynamodb_items=items)
        tally: Tally | None = getattr(self._thread, "tally", None)
        if tally is not None:
            tally.requests[f"{service}:{getattr(model, 'name', '')}"] += 1
            tally.items_read += items

    def _before_send_message(self, params: Mapping[str, Any], **_: Any) -> None:
        tally: Tally | None = getattr(self._thread, "tally", None)
        if tally is not None:
            tally.messages_sent += len(params.get("Entries") or []) or 1

    def _on_receive(self, parsed: Mapping[str, Any], **_: Any) -> None:
        messages = len(parsed.get("Messages") or [])
        if messages:
            self._add(receives_with_messages=1, messages_received=messages)
        else:
            self._add(receives_empty=1)

    def _before_query(self, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_index"] = params.get("IndexName")
        with self._lock:
            self._indexes[str(params.get("IndexName") or "")] += 1

    def _on_query(self, parsed: Mapping[str, Any], context: Mapping[str, Any], **_: Any) -> None:
        if context.get("bench_index") not in self.LISTING_INDEXES:
            return
        size = sum(_size(item) for item in parsed.get("Items") or [])
        units = max(1, math.ceil(size / 4096)) / 2  # a Query is charged on the total it read
        self._add(
            queries=1,
            items_read=int(parsed.get("ScannedCount", parsed.get("Count", 0)) or 0),
            read_units=units,
            query_read_units=units,
        )

    @staticmethod
    def _before_batch_get(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_consistent"] = any(
            request.get("ConsistentRead") for request in (params.get("RequestItems") or {}).values()
        )

    def _on_batch_get(self, parsed: Mapping[str, Any], context: Mapping[str, Any], **_: Any) -> None:
        jobs = [item for items in (parsed.get("Responses") or {}).values() for item in items if "job_id" in item]
        if not jobs or context.get("bench_consistent"):
            return  # a body read, or the worker's own: not a page's fetch
        units = sum(max(1, math.ceil(_size(item) / 4096)) / 2 for item in jobs)  # each item on its own
        self._add(jobs_fetched=len(jobs), read_units=units)

    def _on_update(self, parsed: Mapping[str, Any], **_: Any) -> None:
        attributes = parsed.get("Attributes")
        if not attributes or attributes.get("status", {}).get("S") != "sending":
            return
        with self._lock:
            if self._armed:
                self.claimed_item = dict(attributes)
                self._armed = False
