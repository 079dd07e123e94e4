"""Event sources of the template, run locally: SQS queues and schedules.

One thread per SQS event source, as Lambda's pollers: it receives up to the
event's ``BatchSize``, invokes the function with the event Lambda would
build, and deletes what succeeded. A function error deletes nothing; with
``ReportBatchItemFailures`` only the messages the function names stay. What
stays becomes visible again after the queue's visibility timeout (or the
delay the function set) and, past the redrive policy's ``maxReceiveCount``,
moves to the dead-letter queue: the embedded SQS does both, as configured by
the template.

One thread per schedule: the function is invoked on the template's rate, or
on a shorter local interval (printed at start).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from local.events import failed_message_ids, scheduled_event, sqs_event
from local.runtime import ConfigurationError, LocalFunction
from local.template import Stack

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger("local.pollers")

RECEIVE_LIMIT = 10  # AWS: at most 10 messages per ReceiveMessage
DELETE_LIMIT = 10  # AWS: at most 10 entries per DeleteMessageBatch
WAIT_SECONDS = 1  # short long-polls, so that Ctrl-C is quick
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


# ------------------------------------------------------------------ SQS
@dataclass(frozen=True)
class QueueSource:
    function: str
    event: str
    queue_arn: str
    queue_url: str
    batch_size: int
    window_seconds: int
    report_failures: bool

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]


def queue_sources(stack: Stack) -> list[QueueSource]:
    """Every enabled ``SQS`` event of every function."""
    urls = {stack.arns[logical]: stack.names[logical] for logical in stack.of_type("AWS::SQS::Queue")}
    found: list[QueueSource] = []
    for function, resource in stack.functions().items():
        for name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") != "SQS":
                continue
            props = stack.resolve(event.get("Properties") or {})
            if str(props.get("Enabled", True)).lower() == "false":
                continue
            if props.get("FilterCriteria"):
                raise ConfigurationError(f"{function}.{name}: FilterCriteria is not supported locally")
            arn = str(props["Queue"])
            if arn not in urls:
                raise ConfigurationError(f"{function}.{name}: {arn} is not a queue of the template")
            found.append(
                QueueSource(
                    function=function,
                    event=name,
                    queue_arn=arn,
                    queue_url=urls[arn],
                    batch_size=int(props.get("BatchSize", 10)),
                    window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                    report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                )
            )
    return found


class QueuePoller:
    """Lambda's poller for one SQS event source."""

    def __init__(self, source: QueueSource, function: LocalFunction, sqs: SQSClient, *, region: str) -> None:
        self.source = source
        self.function = function  # this event source's own execution environment
        self._sqs = sqs
        self._region = region

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once(stop)
            except (ClientError, BotoCoreError) as exc:
                log.warning(
                    "%s: polling %s failed (%s); trying again", self.source.function, self.source.queue_name, exc
                )
                stop.wait(1)

    def poll_once(self, stop: threading.Event | None = None) -> int:
        """Receive one batch, invoke the function with it, delete what
        succeeded. Returns how many messages the batch had."""
        messages = self._receive(stop)
        if not messages:
            return 0
        event = sqs_event(messages, queue_arn=self.source.queue_arn, region=self._region)
        result = self.function.invoke(event)
        ids = [m["MessageId"] for m in messages]
        if result.failed:
            log.warning(
                "%s failed on a batch of %d from %s: every message returns to the queue",
                self.source.function,
                len(messages),
                self.source.queue_name,
            )
            return len(messages)
        failed = failed_message_ids(result.payload, ids) if self.source.report_failures else set()
        if failed:
            log.info(
                "%s: %d of %d messages from %s return to the queue",
                self.source.function,
                len(failed),
                len(messages),
                self.source.queue_name,
            )
        self._delete([m for m in messages if m["MessageId"] not in failed])
        return len(messages)

    def _receive(self, stop: threading.Event | None) -> list[MessageTypeDef]:
        messages: list[MessageTypeDef] = []
        wait = WAIT_SECONDS
        deadline = time.monotonic() + self.source.window_seconds
        while len(messages) < self.source.batch_size and not (stop and stop.is_set()):
            response = self._sqs.receive_message(
                QueueUrl=self.source.queue_url,
                MaxNumberOfMessages=min(RECEIVE_LIMIT, self.source.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            got = response.get("Messages", [])
            messages += got
            if not got or time.monotonic() >= deadline:
                break
            wait = 0
        return messages

    def _delete(self, messages: list[MessageTypeDef]) -> None:
        for start in range(0, len(messages), DELETE_LIMIT):
            chunk = messages[start : start + DELETE_LIMIT]
            response = self._sqs.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                log.warning("%s: deleting a message failed: %s", self.source.queue_name, failure.get("Code"))


# ------------------------------------------------------------ schedules
@dataclass(frozen=True)
class Schedule:
    function: str
    event: str
    expression: str
    template_seconds: int | None  # None for cron() and at()
    event_factory: Callable[[], Any]

    def local_seconds(self, ceiling: int) -> int:
        return min(self.template_seconds, ceiling) if self.template_seconds else ceiling


def rate_seconds(expression: str) -> int | None:
    match = _RATE.match(expression.strip())
    if not match:
        return None
    unit = match.group(2).rstrip("s")
    return int(match.group(1)) * _UNIT_SECONDS[unit]


def schedules(stack: Stack) -> list[Schedule]:
    """Every enabled ``Schedule`` / ``ScheduleV2`` event of every function."""
    found: list[Schedule] = []
    for function, resource in stack.functions().items():
        for name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            kind = event.get("Type")
            if kind not in ("Schedule", "ScheduleV2"):
                continue
            props = stack.resolve(event.get("Properties") or {})
            if str(props.get("Enabled", True)).lower() == "false" or props.get("State") == "DISABLED":
                continue
            expression = str(props["Schedule" if kind == "Schedule" else "ScheduleExpression"])
            found.append(
                Schedule(
                    function=function,
                    event=name,
                    expression=expression,
                    template_seconds=rate_seconds(expression),
                    event_factory=_event_factory(stack, function, name, kind, props.get("Input")),
                )
            )
    return found


def _event_factory(stack: Stack, function: str, name: str, kind: str, raw_input: Any) -> Callable[[], Any]:
    if raw_input is not None:
        payload = json.loads(raw_input) if isinstance(raw_input, str) else raw_input
        return lambda: payload
    if kind == "ScheduleV2":
        # EventBridge Scheduler's Lambda target without Input: an empty object.
        return dict
    rule_arn = f"arn:aws:events:{stack.region}:{stack.account}:rule/{function}{name}"
    return lambda: scheduled_event(rule_arn=rule_arn, region=stack.region, account=stack.account)


class SchedulePoller:
    def __init__(self, schedule: Schedule, function: LocalFunction, *, interval_seconds: int) -> None:
        self.schedule = schedule
        self._function = function
        self.interval_seconds = interval_seconds

    def run(self, stop: threading.Event) -> None:
        """Runs start every ``interval_seconds``, as EventBridge starts them; one
        that outlasts the interval delays the next (one execution environment
        here, runs one at a time), which then starts at once."""
        next_at = time.monotonic() + self.interval_seconds
        while not stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.interval_seconds
            result = self._function.invoke(self.schedule.event_factory())
            if result.failed:
                log.warning("%s (schedule %s) failed", self.schedule.function, self.schedule.event)
            next_at = max(next_at, time.monotonic())
