"""Figure 5: an escalation email's latency on an idle stack, and while bulk
sends drain.

Latency is the job's own record: from ``created_at`` (when EnqueueFunction
made it) to ``sent_at`` (when SES accepted it). The load is a number of bulk
sends posted back to back; escalation emails are enqueued while their
messages wait on the bulk queue. What is left of the load afterwards is
purged from the bulk queue (those jobs stay ``queued``; nothing else reads them).
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from benchmarks.ceiling import run_ceiling
from benchmarks.harness import BenchError, BenchStack
from benchmarks.workload import addresses, bulk_request, system_email

LOAD_DOMAIN = "load.example"
TARGET_RATIO = 2.0
_POLL_SECONDS = 0.1  # the latency comes from the job's own times: polling less disturbs less


@dataclass(frozen=True)
class Sample:
    latency_ms: float
    bulk_backlog: int  # messages on the bulk queue when it was enqueued


@dataclass(frozen=True)
class Priority:
    idle: list[Sample]
    loaded: list[Sample]  # each queue's worker in an execution environment of its own, as in Lambda
    control: list[Sample]  # no bulk send: the same work as the bulk worker's, on a queue of its own
    bulks: int
    bulk_size: int
    post_seconds: float
    worker_single_ms: float  # mean SendWorkerFunction invocation for one escalation alone, locally

    @property
    def idle_ms(self) -> float:
        return statistics.median(s.latency_ms for s in self.idle)

    @property
    def loaded_ms(self) -> float:
        return statistics.median(s.latency_ms for s in self.loaded)

    @property
    def ratio(self) -> float:
        return self.loaded_ms / self.idle_ms

    @property
    def control_ms(self) -> float:
        return statistics.median(s.latency_ms for s in self.control)

    @property
    def ratio_to_control(self) -> float:
        return self.loaded_ms / self.control_ms


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def sample(bench: BenchStack, index: int, *, timeout: float = 60) -> Sample:
    backlog = bench.backlog("BulkQueue")
    (job_id,) = bench.enqueue(system_email(index, kind="escalation"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (job,) = bench.jobs([job_id]) or [{}]
        if job.get("status") == "sent":
            latency = _parse(str(job["sent_at"])) - _parse(str(job["created_at"]))
            return Sample(latency.total_seconds() * 1000, backlog)
        if job.get("status") == "failed":
            raise BenchError(f"the escalation email {job_id} failed")
        time.sleep(_POLL_SECONDS)
    raise BenchError(f"the escalation email {job_id} was not sent within {timeout:.0f} s")


def measure(bench: BenchStack, *, samples: int, bulks: int, bulk_size: int, spacing: float = 0.3) -> Priority:
    sample(bench, 4999)  # the priority queue's environment's cold start: not a sample

    idle: list[Sample] = []
    worker_before = bench.durations.count("SendWorkerFunction")
    for i in range(samples):
        idle.append(sample(bench, 5000 + i))
        time.sleep(spacing)
    worker_single_ms = bench.durations.mean_ms("SendWorkerFunction", since=worker_before)
    control = _under_control_load(bench, samples=samples, spacing=spacing)

    token = bench.token([LOAD_DOMAIN])
    run_id = uuid.uuid4().hex[:6]
    started = time.monotonic()
    for b in range(bulks):
        bench.post_bulk(token, bulk_request(LOAD_DOMAIN, addresses(bulk_size, tag=f"load-{run_id}-{b}")))
    post_seconds = time.monotonic() - started

    def under_load(first: int) -> list[Sample]:
        taken: list[Sample] = []
        for i in range(samples):
            one = sample(bench, first + i)
            if one.bulk_backlog == 0:
                raise BenchError("the bulk sends had drained before an escalation was enqueued: make the load larger")
            taken.append(one)
            time.sleep(spacing)
        return taken

    try:
        loaded = under_load(7000)
    finally:
        bench.purge("BulkQueue")
    return Priority(idle, loaded, control, bulks, bulk_size, post_seconds, worker_single_ms)


def _under_control_load(bench: BenchStack, *, samples: int, spacing: float) -> list[Sample]:
    """Escalations while a plain loop makes the bulk worker's calls (claim, read of
    the bulk's cancel mark, SendEmail, final write) on a queue of its own: the
    same work competing for this process and the embedded AWS, without a bulk send."""
    emails = 100 + 40 * samples  # more than it can send while the samples are taken
    stop = threading.Event()
    loop = threading.Thread(
        target=run_ceiling, args=(bench, emails), kwargs={"stop": stop}, name="control-load", daemon=True
    )
    loop.start()
    try:
        time.sleep(0.5 + emails / 400)  # past its BatchWriteItem and SendMessageBatch calls
        taken: list[Sample] = []
        for i in range(samples):
            taken.append(sample(bench, 8000 + i))
            time.sleep(spacing)
            if not loop.is_alive():
                raise BenchError("the control load ended before the samples did: give it more emails")
        return taken
    finally:
        stop.set()
        loop.join(timeout=60)
