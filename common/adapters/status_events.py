"""The status events of Privas services (docs/adr/0085-status-events.md): each
change to ``sent``, ``delivered``, ``bounced``, ``complained``, ``failed``,
``suppressed`` or ``canceled`` as one ``Email Status Changed`` event on the
``StatusEventBus``.

``PutEvents`` takes at most 10 entries and 256 KB a request (EventBridge's
quotas); entries it reports failed are put again, with a short pause, up to
``PUT_ROUNDS`` times. Nothing here raises: what still failed is returned,
for the caller to log and count, so an event never fails or holds back the
change it reports.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters.botocore_errors import error_name
from common.models.stats import EVENT_DETAIL_TYPE, EVENT_SOURCE, StatusEventDetail

PUT_EVENTS_ENTRIES = 10  # AWS: at most 10 entries per PutEvents
PUT_EVENTS_BYTES = 256 * 1024  # AWS: at most 256 KB per PutEvents request
PUT_ROUNDS = 3  # puts of an entry before it is given up


class PutEventsClient(Protocol):
    def put_events(self, **kwargs: Any) -> Mapping[str, Any]: ...


class Published(NamedTuple):
    put: int  # entries EventBridge accepted
    failed: int  # entries still refused after every round
    reason: str | None = None  # the last error code seen, if any
    calls: int = 0


def entry_size(entry: Mapping[str, Any]) -> int:
    """An entry's size as EventBridge counts it for the request limit: its
    time (14 bytes), source, detail type, detail and resources, in UTF-8."""
    size = 14 + len(str(entry["Source"]).encode()) + len(str(entry["DetailType"]).encode())
    size += len(str(entry["Detail"]).encode())
    return size + sum(len(str(r).encode()) for r in entry.get("Resources") or [])


def chunks(entries: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Entries in requests of at most 10 entries and 256 KB each."""
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        n = entry_size(entry)
        if current and (len(current) == PUT_EVENTS_ENTRIES or size + n > PUT_EVENTS_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(entry)
        size += n
    if current:
        out.append(current)
    return out


class StatusEventBus:
    """``PutEvents`` of status events on one bus, batched and retried."""

    def __init__(self, client: Callable[[], PutEventsClient], bus: str, *, pause_seconds: float = 0.1) -> None:
        """``client``: gives the EventBridge client, asked for at the first put
        (a function that changes no status in an invocation never makes one)."""
        self._client = client
        self._bus = bus
        self._pause = pause_seconds

    def entry(self, detail: StatusEventDetail) -> dict[str, Any]:
        return {
            "Source": EVENT_SOURCE,
            "DetailType": EVENT_DETAIL_TYPE,
            "Detail": json.dumps(detail.as_detail(), separators=(",", ":")),
            "EventBusName": self._bus,
        }

    def publish(self, details: Sequence[StatusEventDetail]) -> Published:
        """Put every event; returns how many were put and how many failed."""
        put = failed = calls = 0
        reason: str | None = None
        for chunk in chunks([self.entry(detail) for detail in details]):
            pending = chunk
            for round_ in range(PUT_ROUNDS):
                calls += 1
                try:
                    response = self._client().put_events(Entries=pending)
                except (ClientError, BotoCoreError) as exc:
                    reason = error_name(exc)
                else:
                    results = list(response.get("Entries") or [])
                    again = [
                        entry
                        for entry, result in zip(pending, results, strict=False)
                        if result.get("ErrorCode") or not result.get("EventId")
                    ]
                    again += pending[len(results) :]
                    put += len(pending) - len(again)
                    for result in results:
                        if result.get("ErrorCode"):
                            reason = str(result["ErrorCode"])
                    pending = again
                if not pending:
                    break
                if round_ + 1 < PUT_ROUNDS:
                    time.sleep(self._pause * (2**round_))
            failed += len(pending)
        return Published(put, failed, reason, calls)
