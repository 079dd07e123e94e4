"""Figure 4: a bulk send from POST to every email sent, against the embedded
AWS's own ceiling measured in the same run.

The pipeline's time runs from the POST to the last ``sent_at`` the worker
wrote. The ceiling is the same mix of calls made in a plain loop on one
thread through the same adapters (``benchmarks.ceiling``): its calls per
second, divided by the calls per email, is the most emails per second the
embedded AWS can take.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from benchmarks.ceiling import Ceiling, run_ceiling
from benchmarks.harness import BenchStack
from benchmarks.workload import addresses, bulk_request
from common.logic.clock import utc_now

PIPELINE_DOMAIN = "pipeline.example"


@dataclass(frozen=True)
class Pipeline:
    emails: int
    seconds: float
    worker_invocations: int
    worker_ms: float  # mean SendWorkerFunction invocation, locally
    bulk_ms: float  # the POST's BulkQueueFunction invocation, locally
    ceiling: Ceiling

    @property
    def emails_per_second(self) -> float:
        return self.emails / self.seconds

    @property
    def ceiling_emails_per_second(self) -> float:
        return self.ceiling.calls_per_second / self.ceiling.calls_per_email

    @property
    def ratio(self) -> float:
        return self.emails_per_second / self.ceiling_emails_per_second


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def run_pipeline(bench: BenchStack, size: int, *, timeout: float) -> tuple[float, int, float, float]:
    """Seconds from POST to the last email sent; worker invocations, their mean ms; the POST's ms."""
    token = bench.token([PIPELINE_DOMAIN])
    body = bulk_request(PIPELINE_DOMAIN, addresses(size, tag=f"pipe-{uuid.uuid4().hex[:6]}"))
    worker_before = bench.durations.count("SendWorkerFunction")
    bulk_before = bench.durations.count("BulkQueueFunction")
    started = utc_now()
    answer = bench.post_bulk(token, body)
    jobs = bench.wait_sent(answer["job_ids"], timeout=timeout, interval=0.5)
    last = max(_parse(str(job["sent_at"])) for job in jobs)
    invocations = bench.durations.count("SendWorkerFunction") - worker_before
    return (
        (last - started).total_seconds(),
        invocations,
        bench.durations.mean_ms("SendWorkerFunction", since=worker_before),
        bench.durations.mean_ms("BulkQueueFunction", since=bulk_before),
    )


def measure(bench: BenchStack, *, size: int, ceiling_size: int, timeout: float) -> Pipeline:
    seconds, invocations, worker_ms, bulk_ms = run_pipeline(bench, size, timeout=timeout)
    ceiling = run_ceiling(bench, ceiling_size)
    return Pipeline(
        emails=size,
        seconds=seconds,
        worker_invocations=invocations,
        worker_ms=worker_ms,
        bulk_ms=bulk_ms,
        ceiling=ceiling,
    )
