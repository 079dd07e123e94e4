"""Three speed-ups of the embedded AWS's SQS (moto), one point where its SES
is made to decide as SES does, and SQS fair queues, applied by the local stack.
Each speed-up keeps moto's behaviour and removes work it repeats for every message of a
queue; without them a queue of a few thousand messages takes moto seconds per
call, and a 1,000-recipient bulk send (40 BatchWriteItem, 100
SendMessageBatch) overruns the function's 30 s timeout.

1. Moto reads the clock through naive ``datetime`` conversions, twice per
   message per scan (is it visible, is it delayed); ``time.time()`` gives the
   same epoch seconds far faster.
2. Every call that reads one queue attribute builds all of them, three of
   which count the queue's messages; the attributes become a mapping that
   computes only the ones read.
3. Every message received re-reads the queue's retention period through
   that path; it is read directly.

4. SES sends from a verified domain's subdomains too (``a.example.com`` when
   ``example.com`` is verified); moto accepted the domain itself only.

5. SQS fair queues: a standard queue whose messages carry a
   ``MessageGroupId`` (a tenant) hands out the messages of the tenant with
   the lightest recent load first, as AWS's fair queues do for a noisy
   tenant; moto handed them out in the order sent (``FairOrder``).

They patch moto 5.2.5's internals (pinned in requirements-dev.txt); the local
stack's and the benchmarks' tests exercise them, so an upgrade that breaks
them fails ``make test``. Figures of calls do not depend on them; the
benchmarks compare throughput with a ceiling measured on the same, patched,
embedded AWS.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from email.utils import parseaddr
from typing import Any

_applied = False


class _LazyAttributes(Mapping[str, Any]):
    """``Queue.attributes``, computed one attribute at a time, as moto computes them."""

    def __init__(self, queue: Any, to_underscores: Any) -> None:
        self._queue = queue
        self._to_underscores = to_underscores

    def _names(self) -> list[str]:
        queue = self._queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        if queue.policy:
            names.append("Policy")
        if queue.redrive_policy:
            names.append("RedrivePolicy")
        return names

    def __getitem__(self, name: str) -> Any:
        if name not in self._names():
            raise KeyError(name)
        queue = self._queue
        if name == "Policy":
            value: Any = queue.policy
        elif name == "RedrivePolicy":
            value = json.dumps(queue.redrive_policy)
        else:
            value = getattr(queue, self._to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


FAIR_WINDOW_SECONDS = 60.0


class FairOrder:
    """The order in which a standard queue with grouped messages hands them out.

    A group's *load* is the larger of its messages in flight and its messages
    received in the last ``FAIR_WINDOW_SECONDS`` (AWS weighs in-flight
    messages and recent processing time; a consumer that deletes each batch
    before it receives the next leaves nothing in flight, so recent receives
    stand for processing time). The k-th visible message of a group ranks at
    (load + k), ties going to the message sent first: a tenant with a lighter
    load is served before a heavier one, and equal tenants alternate. A
    message without a group id is a tenant of its own (load 0), as in AWS.

    Unlike AWS there is no threshold (AWS steps in only once a tenant holds
    more than about 10% of the in-flight messages or processing time): the
    order is always the fair one, which is what a queue with two tenants
    under AWS's detection converges to.
    """

    def __init__(self, window_seconds: float = FAIR_WINDOW_SECONDS) -> None:
        self._window = window_seconds
        self._received: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def received(self, group_ids: list[str], now: float) -> None:
        with self._lock:
            for group in group_ids:
                self._received.setdefault(group, deque()).append(now)

    def recent(self, now: float) -> dict[str, int]:
        """Receives per group within the window (older ones forgotten)."""
        horizon = now - self._window
        with self._lock:
            for group in list(self._received):
                times = self._received[group]
                while times and times[0] < horizon:
                    times.popleft()
                if not times:
                    del self._received[group]
            return {group: len(times) for group, times in self._received.items()}

    def order(self, messages: list[Any], now_ms: float) -> list[Any]:
        """The visible, undelayed messages of ``messages`` (a queue's, oldest
        first), fairly ordered across groups; in the order sent if none has a group."""
        visible: list[Any] = []
        in_flight: dict[str, int] = {}
        grouped = False
        for message in messages:
            delayed = now_ms < message.delayed_until
            if now_ms > message.visible_at and not delayed:
                visible.append(message)
                grouped = grouped or message.group_id is not None
            elif not delayed and message.group_id is not None:
                in_flight[message.group_id] = in_flight.get(message.group_id, 0) + 1
        if not grouped:
            return visible
        recent = self.recent(now_ms / 1000.0)
        taken: dict[str, int] = {}
        ranked: list[tuple[int, int, Any]] = []
        for position, message in enumerate(visible):
            group = message.group_id
            if group is None:
                ranked.append((0, position, message))
                continue
            k = taken.get(group, 0)
            taken[group] = k + 1
            load = max(in_flight.get(group, 0), recent.get(group, 0))
            ranked.append((load + k, position, message))
        ranked.sort(key=lambda item: (item[0], item[1]))
        return [message for _, _, message in ranked]


def _fair_order(queue: Any) -> FairOrder:
    order: FairOrder | None = queue.__dict__.get("_fair_order")
    if order is None:
        order = queue.__dict__.setdefault("_fair_order", FairOrder())
    return order


def apply() -> None:
    """Patch moto's SQS and SES in this process (once)."""
    global _applied  # noqa: PLW0603 - a process-wide patch, applied once
    if _applied:
        return
    from moto.core.utils import camelcase_to_underscores  # noqa: PLC0415 - heavy; only a running stack needs it

    models: Any = importlib.import_module("moto.sqs.models")

    slow_time, slow_millis = models.unix_time, models.unix_time_millis

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else float(slow_time(dt))

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else float(slow_millis(dt))

    def retention_ok(self: Any, queue_name: str, message: Any) -> bool:
        queue = self.get_queue(queue_name)
        return bool(int(queue.message_retention_period) + message.sent_timestamp / 1000 > time.time())

    ses: Any = importlib.import_module("moto.ses.models")

    def is_verified_address(self: Any, source: str) -> bool:
        _, address = parseaddr(source)
        if address in self.email_identities:
            return True
        labels = address.rpartition("@")[2].lower().split(".")
        verified = {identity.lower() for identity in self.email_identities}
        return any(".".join(labels[i:]) in verified for i in range(len(labels)))

    def messages(queue: Any) -> list[Any]:
        if queue.fifo_queue:
            return [m for m in queue._messages if m.visible and not m.delayed]
        return _fair_order(queue).order(queue._messages, time.time() * 1000.0)

    slow_receive = models.SQSBackend.receive_message

    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> list[Any]:
        received: list[Any] = slow_receive(self, queue_name, *args, **kwargs)
        queue = self.get_queue(queue_name)
        if not queue.fifo_queue:
            groups = [m.group_id for m in received if m.group_id is not None]
            if groups:
                _fair_order(queue).received(groups, time.time())
        return received

    ses.SESBackend._is_verified_address = is_verified_address
    models.Queue.messages = property(messages)
    models.SQSBackend.receive_message = receive_message
    models.unix_time = unix_time
    models.unix_time_millis = unix_time_millis
    models.Queue.attributes = property(lambda queue: _LazyAttributes(queue, camelcase_to_underscores))
    models.SQSBackend.is_message_valid_based_on_retention_period = retention_ok
    _applied = True
