"""The local stack the benchmarks run against (``local.stack``, started in
this process on free ports of 127.0.0.1), and how they drive and watch it.

The benchmarks' own AWS clients come from a session of their own and carry
``BENCH_AGENT`` in their User-Agent, so the request log leaves them out and
the SDK hooks (installed on the default session, which the functions' and
the pollers' clients come from) do not see them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from benchmarks.recording import BENCH_AGENT, RECORDING_ENV, MotoRecorder, SdkObserver, Tally
from common.adapters import aws
from local.httpd import PortInUse
from local.runtime import Invocation, LocalFunction
from local.stack import LocalStack, Settings
from local.template import Stack
from local.tokens import mint

# The sweeper never runs during a benchmark: its calls would mix with those measured.
SCHEDULE_SECONDS = 3600
HTTP_TIMEOUT_SECONDS = 120
_START_ATTEMPTS = 3
_deserializer = TypeDeserializer()


class BenchError(Exception):
    """A benchmark could not measure what it set out to; the message says why."""


def _skipped(_event: Any) -> Invocation:
    """A scheduled invocation the benchmarks do not make."""
    return Invocation(payload={}, request_id="skipped-by-the-benchmarks")


def prepare_recording(workdir: Path) -> Path:
    """Where moto's recorder writes. Must run before moto is first imported."""
    if "moto.moto_api" in sys.modules:
        raise BenchError("moto was imported before its recorder could be pointed at a file")
    path = workdir / "moto-recording.jsonl"
    os.environ[RECORDING_ENV] = str(path)
    os.environ.pop("MOTO_ENABLE_RECORDING", None)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Durations:
    """Wall time of each function's invocations (lock wait included)."""

    seconds: dict[str, list[float]]

    def mean_ms(self, function: str, since: int = 0) -> float:
        values = self.seconds.get(function, [])[since:]
        return 1000 * sum(values) / len(values) if values else 0.0

    def count(self, function: str) -> int:
        return len(self.seconds.get(function, []))


@dataclass(frozen=True)
class Usage:
    """What the functions used over one stretch: invocations and wall seconds
    by function (the time Lambda bills, waits included), and the bytes and
    lines they wrote to their log (what CloudWatch Logs would ingest)."""

    invocations: dict[str, int]
    seconds: dict[str, float]
    log_bytes: int = 0
    log_lines: int = 0

    def __add__(self, other: Usage) -> Usage:
        def merged(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
            return {k: a.get(k, 0) + b.get(k, 0) for k in {*a, *b}}

        return Usage(
            merged(self.invocations, other.invocations),
            merged(self.seconds, other.seconds),
            self.log_bytes + other.log_bytes,
            self.log_lines + other.log_lines,
        )


@dataclass(frozen=True)
class ScheduledRun:
    """One scheduled invocation (the sweeper's): what was noted before it, what it
    answered, and the AWS calls it made."""

    noted: Any
    payload: Any
    tally: Tally


@dataclass(frozen=True)
class UsageMark:
    counts: dict[str, int]
    log_offset: int


class BenchStack:
    def __init__(
        self,
        workdir: Path,
        recording: Path,
        *,
        ses_rate: float = 0.0,
        parameters: Mapping[str, str] | None = None,
        schedule_seconds: int | None = None,
        functions_log: Path | None = None,
    ) -> None:
        """``ses_rate``: the embedded SES's maximum send rate (emails a second; 0: none);
        ``parameters``: template parameters set for this stack; ``schedule_seconds``:
        run the template's schedules (the sweeper) at most this far apart (default: never);
        ``functions_log``: where this process's standard output (the functions' log) goes."""
        self.workdir = workdir
        self.observer = SdkObserver()
        self._recording = recording
        self._local: LocalStack | None = None
        self.durations = Durations(defaultdict(list))
        self._durations_lock = threading.Lock()
        self._running = 0  # invocations under way, of every function
        self.ses_rate = ses_rate
        self.parameters = dict(parameters or {})
        self.schedule_seconds = schedule_seconds
        self.functions_log = functions_log
        self.scheduled: list[ScheduledRun] = []  # each scheduled invocation, when the stack runs them
        self.before_schedule: Callable[[], Any] | None = None  # what to note before a scheduled run

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        # Every client the stack makes comes from one of two sessions: the
        # functions' (botocore's, common.adapters.aws) and boto3's default one
        # (the pollers'): hook both before any client is made.
        boto3.setup_default_session()
        if boto3.DEFAULT_SESSION is None:
            raise BenchError("boto3 has no default session")
        self.observer.install(boto3.DEFAULT_SESSION.events)
        self.observer.install(aws.session())
        for attempt in range(_START_ATTEMPTS):
            settings = Settings(
                api_port=_free_port(),
                lambda_port=_free_port(),
                aws_port=_free_port(),
                schedule_seconds=self.schedule_seconds or SCHEDULE_SECONDS,
                parameters=self.parameters,
                # SES's events are emulated, but held (hold_ses_events): outside the stretches
                # that let them go (figures 1 and 6) jobs stay "sent".
                ses_events=True,
                # No SES sending rate: the figures measure the service against the
                # embedded AWS's own ceiling, not a rate set below it (docs/local-stack.md).
                ses_max_send_rate=0,
            )
            if self.ses_rate:
                settings = dataclasses.replace(settings, ses_max_send_rate=self.ses_rate)
            local = LocalStack(settings)
            try:
                local.start()
            except PortInUse:
                if attempt == _START_ATTEMPTS - 1:
                    raise
                continue
            self._local = local
            break
        self._gate_ses_events()
        # The functions behind the Lambda Invoke API and the HTTP API, and each
        # queue event source's own execution environment.
        for function in [*self.local.functions.values(), *(p.function for p in self.local.queue_pollers)]:
            self._time(function)
        # The local schedule runs at the template's rate when that is shorter than
        # SCHEDULE_SECONDS (the sweeper's is 5 minutes): its invocations are skipped,
        # unless this stack runs its schedules (``schedule_seconds``).
        for poller in self.local.schedule_pollers:
            function = self.local.functions[poller.schedule.function]
            if self.schedule_seconds is None:
                function.invoke = _skipped  # type: ignore[method-assign,assignment]
            else:
                self._note_schedule(poller)
        # The embedded AWS takes any key; these are not secrets.
        session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=self.stack.region)  # noqa: S106
        config = Config(user_agent_extra=BENCH_AGENT, retries={"mode": "standard", "max_attempts": 4})
        endpoint = self.settings.aws_endpoint
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint, config=config)
        self.sqs = session.client("sqs", endpoint_url=endpoint, config=config)
        self.sesv2 = session.client("sesv2", endpoint_url=endpoint, config=config)
        self.lambda_ = session.client(
            "lambda", endpoint_url=self.settings.lambda_url, config=Config(read_timeout=HTTP_TIMEOUT_SECONDS)
        )
        self.http = requests.Session()
        self.recorder = MotoRecorder(
            endpoint,
            self._recording,
            keep_bodies=frozenset(
                {
                    "BatchWriteItem",
                    "TransactWriteItems",
                    "PutItem",
                    "UpdateItem",
                    "DeleteItem",
                    "GetItem",
                    "BatchGetItem",
                    "PutEvents",  # whose events they are: SES's (aws.ses) or the service's own
                }
            ),
        )
        self.s3 = session.client("s3", endpoint_url=endpoint, config=config)

    # ------------------------------------------------------------ SES's rate
    def reported_send_rate(self) -> float | None:
        """``MaxSendRate`` as SES v2 ``GetAccount`` reports it, or None when the
        embedded SES answers no ``GetAccount``."""
        try:
            quota = self.sesv2.get_account().get("SendQuota") or {}
        except (BotoCoreError, ClientError):
            return None
        rate = quota.get("MaxSendRate")
        return float(rate) if rate is not None else None

    # ------------------------------------------------------------ schedules
    def _note_schedule(self, poller: Any) -> None:
        """Keep each scheduled run: what ``before_schedule`` noted first, its result and its calls."""
        function = self.local.functions[poller.schedule.function]
        invoke = function.invoke

        def noted(event: Any) -> Any:
            before = self.before_schedule() if self.before_schedule is not None else None
            tally = self.observer.watch()
            try:
                result = invoke(event)
            finally:
                self.observer.unwatch()
            self.scheduled.append(ScheduledRun(before, getattr(result, "payload", None), tally))
            return result

        function.invoke = noted  # type: ignore[method-assign]

    # ------------------------------------------------------------ capturing events
    @contextlib.contextmanager
    def capture(self, function: str, answer: Any) -> Iterator[list[Any]]:
        """While open, ``function`` (behind the HTTP API or the Lambda Invoke API) is
        not run: each event the stack builds for it is kept, and ``answer`` returned."""
        local_function = self.local.functions[function]
        invoke = local_function.invoke
        events: list[Any] = []

        def keep(event: Any) -> Invocation:
            events.append(json.loads(json.dumps(event)))
            return Invocation(payload=answer, request_id="captured-by-the-benchmarks")

        local_function.invoke = keep  # type: ignore[method-assign]
        try:
            yield events
        finally:
            local_function.invoke = invoke  # type: ignore[method-assign]

    # ------------------------------------------------------------ usage
    def usage_mark(self) -> UsageMark:
        with self._durations_lock:
            counts = {name: len(values) for name, values in self.durations.seconds.items()}
        return UsageMark(counts, self._log_offset())

    def usage_since(self, mark: UsageMark) -> Usage:
        """Invocations, their seconds and the log written since ``mark``."""
        with self._durations_lock:
            invocations = {n: len(v) - mark.counts.get(n, 0) for n, v in self.durations.seconds.items()}
            seconds = {n: sum(v[mark.counts.get(n, 0) :]) for n, v in self.durations.seconds.items()}
        end = self._log_offset()
        log_bytes, log_lines = 0, 0
        if self.functions_log is not None and end > mark.log_offset:
            with self.functions_log.open("rb") as handle:
                handle.seek(mark.log_offset)
                written = handle.read(end - mark.log_offset)
            log_bytes, log_lines = len(written), written.count(b"\n")
        return Usage(
            {n: c for n, c in invocations.items() if c},
            {n: s for n, s in seconds.items() if invocations.get(n)},
            log_bytes,
            log_lines,
        )

    def _log_offset(self) -> int:
        if self.functions_log is None:
            return 0
        sys.stdout.flush()
        try:
            return self.functions_log.stat().st_size
        except FileNotFoundError:
            return 0

    def memory_mb(self, function: str) -> int:
        return self.local.functions[function].config.memory_mb

    # ------------------------------------------------------------ SES's events
    def _gate_ses_events(self) -> None:
        """The emulated SES publishes nothing unless a stretch holds its sends
        (``hold_ses_events``) and then lets their events go (``release_ses_events``)."""
        publisher = self.local.ses_events
        if publisher is None:
            raise BenchError("the local stack emulates no SES events")
        self._publish: Callable[[Any], None] = publisher.accepted
        self._held_sends: list[Any] | None = None
        self._held_lock = threading.Lock()

        def gate(send: Any) -> None:
            with self._held_lock:
                if self._held_sends is not None:
                    self._held_sends.append(send)

        publisher.accepted = gate  # type: ignore[method-assign]

    def hold_ses_events(self) -> None:
        """From now on SES's sends are kept, their events not yet published."""
        with self._held_lock:
            self._held_sends = []

    def pause_poller(self, logical: str) -> Callable[[], None]:
        """Stop the event source of queue ``logical`` from receiving (a receive
        under way ends first, within its long poll); returns what resumes it."""
        name = self.queue_url(logical).rsplit("/", 1)[-1]
        poller = next(p for p in self.local.queue_pollers if p.source.queue_name == name)
        poll_once = poller.poll_once
        running = threading.Event()

        def paused(stop: threading.Event | None = None) -> int:
            if not running.is_set():
                running.wait(0.1)
                return 0
            return poll_once(stop)

        poller.poll_once = paused  # type: ignore[method-assign]

        def resume() -> None:
            running.set()
            poller.poll_once = poll_once  # type: ignore[method-assign]

        return resume

    def release_ses_events(self) -> int:
        """Publish the events of the sends held, all at once; how many sends."""
        with self._held_lock:
            sends, self._held_sends = self._held_sends or [], None
        for send in sends:
            self._publish(send)
        return len(sends)

    def stop(self) -> None:
        if self._local is not None:
            self._local.stop()
            self._local = None

    @property
    def local(self) -> LocalStack:
        if self._local is None:
            raise BenchError("the local stack is not running")
        return self._local

    @property
    def stack(self) -> Stack:
        if self.local.stack is None:
            raise BenchError("the local stack has no resources")
        return self.local.stack

    @property
    def settings(self) -> Settings:
        return self.local.settings

    def _time(self, function: LocalFunction) -> None:
        invoke = function.invoke
        name = function.name

        def timed(event: Any) -> Any:
            started = time.perf_counter()
            with self._durations_lock:
                self._running += 1
            try:
                return invoke(event)
            finally:
                with self._durations_lock:
                    self._running -= 1
                    self.durations.seconds[name].append(time.perf_counter() - started)

        function.invoke = timed  # type: ignore[method-assign]

    def stored_objects(self) -> dict[str, int]:
        """The bodies bucket's objects: key -> size in bytes."""
        bucket = self.stack.names.get("BodiesBucket")
        if not bucket:
            return {}
        found: dict[str, int] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found.update({str(o["Key"]): int(o["Size"]) for o in page.get("Contents", [])})
        return found

    # ------------------------------------------------------------ names
    @property
    def jobs_table(self) -> str:
        return self.stack.names["JobsTable"]

    def queue_url(self, logical: str) -> str:
        return self.stack.names[logical]

    def token(self, domains: Sequence[str]) -> str:
        return mint(list(domains), secret=self.settings.secret, rules=self.local.jwt_rules)

    # ------------------------------------------------------------ driving
    def enqueue(self, payload: Any) -> list[str]:
        response = self.lambda_.invoke(FunctionName="EnqueueFunction", Payload=json.dumps(payload).encode())
        result = json.loads(response["Payload"].read())
        if "job_ids" not in result:
            raise BenchError(f"EnqueueFunction answered {str(result)[:300]}")
        return [str(job_id) for job_id in result["job_ids"]]

    def post_bulk(self, token: str, body: dict[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = self.http.post(
            f"{self.settings.api_url}/jobs/bulk", json=body, headers=headers, timeout=HTTP_TIMEOUT_SECONDS
        )
        if response.status_code != 202:
            raise BenchError(f"POST /jobs/bulk answered {response.status_code}: {response.text[:300]}")
        answer: dict[str, Any] = response.json()
        return answer

    def list_page(self, token: str, params: dict[str, str]) -> dict[str, Any]:
        response = self.http.get(
            f"{self.settings.api_url}/jobs",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        if response.status_code != 200:
            raise BenchError(f"GET /jobs answered {response.status_code}: {response.text[:300]}")
        page: dict[str, Any] = response.json()
        return page

    # ------------------------------------------------------------ queues
    def set_queue_delay(self, seconds: int, queues: Iterable[str] = ("PriorityQueue", "BulkQueue")) -> None:
        for logical in queues:
            self.sqs.set_queue_attributes(QueueUrl=self.queue_url(logical), Attributes={"DelaySeconds": str(seconds)})

    def backlog(self, logical: str) -> int:
        """Messages on a queue: waiting, delayed or being processed."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url(logical),
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def visible(self, logical: str) -> int:
        """Messages on a queue that a receive would return now."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url(logical), AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def purge(self, logical: str) -> None:
        self.sqs.purge_queue(QueueUrl=self.queue_url(logical))

    # ------------------------------------------------------------ jobs
    def jobs(self, job_ids: Sequence[str], *, more: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Status, created_at and sent_at of each job, and the attributes ``more`` names (consistent reads)."""
        found: list[dict[str, Any]] = []
        projection = ", ".join(["job_id", "#s", "created_at", "sent_at", *more])
        for start in range(0, len(job_ids), 100):
            keys = [{"pk": {"S": job_id}} for job_id in job_ids[start : start + 100]]
            request: dict[str, Any] = {
                self.jobs_table: {
                    "Keys": keys,
                    "ProjectionExpression": projection,
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ConsistentRead": True,
                }
            }
            for _ in range(10):
                response = self.dynamodb.batch_get_item(RequestItems=request)
                found += [
                    {k: _deserializer.deserialize(v) for k, v in item.items()}
                    for item in response["Responses"].get(self.jobs_table, [])
                ]
                unprocessed = response.get("UnprocessedKeys") or {}
                if not unprocessed.get(self.jobs_table):
                    break
                request = unprocessed
        return found

    def item(self, job_id: str) -> dict[str, Any]:
        response = self.dynamodb.get_item(TableName=self.jobs_table, Key={"pk": {"S": job_id}}, ConsistentRead=True)
        item: dict[str, Any] = response.get("Item") or {}
        return item

    def wait_idle(self, *, timeout: float, quiet: float = 1.5) -> None:
        """Wait until no function has run for ``quiet`` seconds: a batch a worker
        received before a purge is still written when the purge returns."""

        def idle() -> bool:
            with self._durations_lock:
                return self._running == 0

        deadline = time.monotonic() + timeout
        while True:
            self.wait_until(idle, timeout=max(deadline - time.monotonic(), 0), what="the functions going idle")
            time.sleep(quiet)
            if idle():
                return

    def wait_until(self, done: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> float:
        """Seconds until ``done()``; ``BenchError`` after ``timeout``."""
        started = time.monotonic()
        while not done():
            if time.monotonic() - started > timeout:
                raise BenchError(f"{what}: not done after {timeout:.0f} s")
            time.sleep(interval)
        return time.monotonic() - started

    def wait_sent(
        self,
        job_ids: Sequence[str],
        *,
        timeout: float,
        interval: float = 0.25,
        status: str = "sent",
        queues: Sequence[str] = ("PriorityQueue", "BulkQueue"),
    ) -> list[dict[str, Any]]:
        """Wait until every job reads ``status`` and every one of ``queues`` is
        empty; the jobs as read last."""
        last: list[dict[str, Any]] = []

        def all_sent() -> bool:
            nonlocal last
            if any(self.backlog(queue) for queue in queues):
                return False
            last = self.jobs(job_ids)
            failed = [job for job in last if job.get("status") == "failed"]
            if failed:
                raise BenchError(f"{len(failed)} job(s) failed, e.g. {failed[0]['job_id']}")
            return len(last) == len(job_ids) and all(job.get("status") == status for job in last)

        what = f"{len(job_ids)} job(s) reading {status}"
        self.wait_until(all_sent, timeout=timeout, what=what, interval=interval)
        return last
