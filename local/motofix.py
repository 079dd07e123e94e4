"""Three speed-ups of the embedded AWS's SQS (moto), and one point where its SES
is made to decide as SES does, applied by the local stack.
Each keeps moto's behaviour and removes work it repeats for every message of a
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

They patch moto 5.2.5's internals (pinned in requirements-dev.txt); the local
stack's and the benchmarks' tests exercise them, so an upgrade that breaks
them fails ``make test``. Figures of calls do not depend on them; the
benchmarks compare throughput with a ceiling measured on the same, patched,
embedded AWS.
"""

from __future__ import annotations

import importlib
import json
import time
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

    ses.SESBackend._is_verified_address = is_verified_address
    models.unix_time = unix_time
    models.unix_time_millis = unix_time_millis
    models.Queue.attributes = property(lambda queue: _LazyAttributes(queue, camelcase_to_underscores))
    models.SQSBackend.is_message_valid_based_on_retention_period = retention_ok
    _applied = True
