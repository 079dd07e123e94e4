"""Queue pollers and schedules, read from template.yaml and run against moto."""

from __future__ import annotations

import itertools
import threading
import time

import boto3
import pytest

from local.events import failed_message_ids
from local.pollers import QueuePoller, SchedulePoller, queue_sources, rate_seconds, schedules
from local.runtime import Invocation


class ScriptedFunction:
    """Answers each batch with ``answer(event)``; keeps the events."""

    def __init__(self, answer):
        self.answer = answer
        self.events = []

    def invoke(self, event):
        self.events.append(event)
        return self.answer(event)


def _counts(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _template_sqs_events(stack):
    found = []
    for function, resource in stack.functions().items():
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] == "SQS":
                found.append((function, stack.resolve(event["Properties"]["Queue"]), event["Properties"]["BatchSize"]))
    return sorted(found)


def test_every_sqs_event_source_of_the_template_gets_a_poller(stack):
    sources = queue_sources(stack)
    assert sorted((s.function, s.queue_arn, s.batch_size) for s in sources) == _template_sqs_events(stack)
    assert all(
        s.queue_url == stack.names[logical]
        for s in sources
        for logical in stack.arns
        if stack.arns[logical] == s.queue_arn
    )


@pytest.fixture
def priority(stack):
    sqs = boto3.client("sqs", region_name="us-east-1")
    source = next(s for s in queue_sources(stack) if s.queue_arn == stack.arns["PriorityQueue"])
    deletes = []
    sqs.meta.events.register(
        "before-parameter-build.sqs.DeleteMessageBatch", lambda params, **_: deletes.append(dict(params))
    )
    return sqs, source, deletes


def test_a_batch_respects_the_batch_size_and_only_failed_records_stay(priority):
    sqs, source, deletes = priority
    for i in range(source.batch_size + 3):
        sqs.send_message(QueueUrl=source.queue_url, MessageBody=f'{{"n": {i}}}')

    def fail_the_first(event):
        first = event["Records"][0]["messageId"]
        return Invocation({"batchItemFailures": [{"itemIdentifier": first}]}, "r")

    function = ScriptedFunction(fail_the_first)
    poller = QueuePoller(source, function, sqs, region="us-east-1")

    handled = poller.poll_once()

    # One batch of at most BatchSize records, built as Lambda builds them
    assert 0 < handled <= source.batch_size
    (event,) = function.events
    assert len(event["Records"]) == handled
    assert {r["eventSourceARN"] for r in event["Records"]} == {source.queue_arn}
    # All but the failed record deleted, at most 10 per DeleteMessageBatch
    assert sum(len(d["Entries"]) for d in deletes) == handled - 1
    assert all(len(d["Entries"]) <= 10 for d in deletes)
    visible, in_flight = _counts(sqs, source.queue_url)
    assert (visible, in_flight) == (source.batch_size + 3 - handled, 1)


def test_a_function_error_deletes_nothing(priority):
    sqs, source, deletes = priority
    for i in range(3):
        sqs.send_message(QueueUrl=source.queue_url, MessageBody=str(i))
    function = ScriptedFunction(lambda event: Invocation({"errorType": "Boom"}, "r", failed=True))

    QueuePoller(source, function, sqs, region="us-east-1").poll_once()

    assert deletes == []
    assert _counts(sqs, source.queue_url) == (0, 3)


def test_an_unknown_item_identifier_keeps_the_whole_batch(priority):
    sqs, source, deletes = priority
    sqs.send_message(QueueUrl=source.queue_url, MessageBody="x")
    function = ScriptedFunction(lambda event: Invocation({"batchItemFailures": [{"itemIdentifier": "nope"}]}, "r"))

    QueuePoller(source, function, sqs, region="us-east-1").poll_once()

    assert deletes == []
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "nope"}]}, ["a"]) == {"a"}


def test_schedules_come_from_the_template_and_run_at_most_at_the_local_interval(stack):
    found = schedules(stack)
    template_schedules = [
        (function, event_name)
        for function, resource in stack.functions().items()
        for event_name, event in (resource["Properties"].get("Events") or {}).items()
        if event["Type"] in ("Schedule", "ScheduleV2")
    ]
    assert sorted((s.function, s.event) for s in found) == sorted(template_schedules)
    for schedule in found:
        assert schedule.local_seconds(30) <= 30
        assert schedule.local_seconds(10**6) == (schedule.template_seconds or 10**6)

    # The poller invokes on its interval until stopped
    calls = threading.Event()
    function = ScriptedFunction(lambda event: calls.set() or Invocation(None, "r"))
    stop = threading.Event()
    poller = SchedulePoller(found[0], function, interval_seconds=0.05)
    thread = threading.Thread(target=poller.run, args=(stop,))
    thread.start()
    assert calls.wait(5)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(5 minutes)", 300),
        ("rate(1 minute)", 60),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("cron(0 * * * ? *)", None),
    ],
)
def test_rate_expressions(expression, seconds):
    assert rate_seconds(expression) == seconds


def test_a_message_that_always_fails_ends_in_the_dead_letter_queue(priority, stack):
    # Given the template's priority queue, made visible again at once after a failed batch
    sqs, source, _ = priority
    sqs.set_queue_attributes(QueueUrl=source.queue_url, Attributes={"VisibilityTimeout": "0"})
    sqs.send_message(QueueUrl=source.queue_url, MessageBody="poison")
    function = ScriptedFunction(lambda event: Invocation({"errorType": "Boom"}, "r", failed=True))
    poller = QueuePoller(source, function, sqs, region="us-east-1")
    max_receives = int(stack.parameters["MaxReceiveCount"])

    # When the poller keeps failing on it
    for _ in range(max_receives + 1):
        poller.poll_once()

    # Then it was offered maxReceiveCount times, and then moved to the dead-letter queue
    assert len(function.events) == max_receives
    dlq = sqs.receive_message(QueueUrl=stack.names["PriorityDeadLetterQueue"])["Messages"]
    assert [m["Body"] for m in dlq] == ["poison"]
    assert _counts(sqs, source.queue_url) == (0, 0)


def test_schedules_start_on_their_rate_whatever_a_run_takes(stack):
    """As EventBridge starts them: runs 0.3 s apart from start to start, not from the end of
    the last one (a run of 0.2 s would make that 0.5 s); a run longer than the rate delays the
    next, which then starts at once (one execution environment: runs one at a time)."""
    [found, *_] = schedules(stack)
    starts: list[float] = []

    def slow(event):
        starts.append(time.monotonic())
        time.sleep(0.5 if len(starts) == 3 else 0.2)
        return Invocation(None, "r")

    stop = threading.Event()
    poller = SchedulePoller(found, ScriptedFunction(slow), interval_seconds=0.3)
    thread = threading.Thread(target=poller.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 10
    while len(starts) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(5)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(0.25 < gap < 0.4 for gap in gaps[:2]), gaps  # start to start: the rate
    assert 0.45 < gaps[2] < 0.6, gaps  # the long run: the next at once after it
