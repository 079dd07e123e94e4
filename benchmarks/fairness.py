"""The fairness figure: a small bulk send of one domain, posted while another
domain's large backlog drains from the same bulk queue, against the same small
bulk send on an idle stack (SQS fair queues:
docs/adr/0029-fair-bulk-queue.md; the local emulation: local/motofix.py).

Latency is the jobs' own record: from the bulk send's ``created_at`` to the
last of its 10 jobs' ``sent_at``. The backlog (domain A, 5,000 in the full
run) is posted first in bulk sends of 1,000; each sample of domain B is
posted once A's jobs are being sent, and must finish while A still has a
backlog (else the figure would say nothing). What is left of A's backlog is
purged from the bulk queue afterwards (those jobs stay ``queued``).
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from benchmarks.harness import BenchError, BenchStack
from benchmarks.page import SummaryRow
from benchmarks.workload import addresses, bulk_request

BACKLOG_DOMAIN = "fair-a.example"
SMALL_DOMAIN = "fair-b.example"
SMALL_BULK = 10
TARGET_RATIO = 2.0
FULL_BACKLOG = 5_000
SMOKE_BACKLOG = 100
_BULK_LIMIT = 1_000  # recipients per POST /jobs/bulk
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Sample:
    latency_ms: float
    backlog_left: int  # messages still on the bulk queue when the small bulk was all sent
    backlog_before: int = 0  # messages on the bulk queue when it was posted
    seconds: float = 0.0  # wall time from its POST to its last email sent

    @property
    def fifo_estimate_ms(self) -> float | None:
        """What one first-in-first-out queue would have made it wait: the backlog
        ahead of it at the rate the backlog drained meanwhile, plus its own time."""
        drained = self.backlog_before - self.backlog_left
        if drained <= 0 or self.seconds <= 0:
            return None
        return self.backlog_before / (drained / self.seconds) * 1000 + self.latency_ms


@dataclass(frozen=True)
class Fairness:
    idle: list[Sample]
    loaded: list[Sample]
    backlog: int  # domain A's emails posted

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
    def fifo_estimate_ms(self) -> float | None:
        estimates = [e for e in (s.fifo_estimate_ms for s in self.loaded) if e is not None]
        return statistics.median(estimates) if estimates else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "backlog": self.backlog,
            "small_bulk": SMALL_BULK,
            "idle_ms": [s.latency_ms for s in self.idle],
            "loaded_ms": [s.latency_ms for s in self.loaded],
            "backlog_left": [s.backlog_left for s in self.loaded],
            "fifo_estimate_ms": self.fifo_estimate_ms,
            "ratio": self.ratio,
            "target": TARGET_RATIO,
        }


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def small_bulk(bench: BenchStack, token: str, tag: str, *, timeout: float) -> Sample:
    """Post domain B's bulk send of 10 and wait until every one is sent."""
    backlog_before = bench.backlog("BulkQueue")
    started = time.monotonic()
    answer = bench.post_bulk(token, bulk_request(SMALL_DOMAIN, addresses(SMALL_BULK, tag=tag)))
    job_ids = [str(job_id) for job_id in answer["job_ids"]]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = bench.jobs(job_ids)
        if any(job.get("status") == "failed" for job in jobs):
            raise BenchError(f"a job of the small bulk send {answer['bulk_id']} failed")
        if len(jobs) == len(job_ids) and all(job.get("status") == "sent" for job in jobs):
            backlog_left = bench.backlog("BulkQueue")
            created = min(_parse(str(job["created_at"])) for job in jobs)
            sent = max(_parse(str(job["sent_at"])) for job in jobs)
            seconds = time.monotonic() - started
            return Sample((sent - created).total_seconds() * 1000, backlog_left, backlog_before, seconds)
        time.sleep(_POLL_SECONDS)
    raise BenchError(f"the small bulk send {answer['bulk_id']} was not sent within {timeout:.0f} s")


def measure(bench: BenchStack, *, backlog: int, samples: int, timeout: float) -> Fairness:
    run_id = uuid.uuid4().hex[:6]
    small_token = bench.token([SMALL_DOMAIN])
    small_bulk(bench, small_token, f"fair-warm-{run_id}", timeout=timeout)  # not a sample
    idle = [small_bulk(bench, small_token, f"fair-idle-{run_id}-{i}", timeout=timeout) for i in range(samples)]

    big_token = bench.token([BACKLOG_DOMAIN])
    for start in range(0, backlog, _BULK_LIMIT):
        size = min(_BULK_LIMIT, backlog - start)
        bench.post_bulk(big_token, bulk_request(BACKLOG_DOMAIN, addresses(size, tag=f"fair-a-{run_id}-{start}")))
    loaded: list[Sample] = []
    try:
        for i in range(samples):
            one = small_bulk(bench, small_token, f"fair-loaded-{run_id}-{i}", timeout=timeout)
            if one.backlog_left == 0:
                raise BenchError("the backlog had drained before the small bulk send was sent: make it larger")
            loaded.append(one)
    finally:
        bench.purge("BulkQueue")
    return Fairness(idle, loaded, backlog)


# ---------------------------------------------------------------- its part of the page
def summary_row(f: Fairness) -> SummaryRow:
    return SummaryRow(
        "9. Fairness",
        f"a bulk send of {SMALL_BULK} of one domain while another's {f.backlog:,} drain",
        f"{f.loaded_ms:,.0f} ms",
        f"idle: {f.idle_ms:,.0f} ms (target ≤ {TARGET_RATIO:.0f}x)",
        f.ratio,
    )


def section(f: Fairness) -> str:
    rows = [
        f"| idle stack | {len(f.idle)} | {f.idle_ms:,.0f} ms | — |",
        f"| while {f.backlog:,} of another domain drain | {len(f.loaded)} | {f.loaded_ms:,.0f} ms | "
        f"{min(s.backlog_left for s in f.loaded):,} |",
    ]
    fifo = f.fifo_estimate_ms
    if fifo is not None:
        rows.append(
            f"| the same, one first-in-first-out queue (estimated: the backlog ahead of it at the rate it drained) "
            f"| — | {fifo:,.0f} ms | 0 |"
        )
    verdict = "met" if f.ratio <= TARGET_RATIO else "**not met**"
    return "\n".join(
        [
            "## 9. Fairness across domains on the bulk queue",
            "",
            f"A bulk send of {SMALL_BULK} of `{SMALL_DOMAIN}`, from its `created_at` to its last `sent_at`: on an",
            f"idle stack, and posted while {f.backlog:,} emails of `{BACKLOG_DOMAIN}` (bulk sends of 1,000) drain",
            "from the same bulk queue. Every bulk-queue message carries its domain as `MessageGroupId` (SQS fair",
            "queues); the embedded SQS hands out the least-loaded domain's messages first (local/motofix.py; where",
            "it differs from AWS: docs/local-stack.md). Without it the small bulk send waits for the whole backlog.",
            "",
            "| stack | samples | median latency | backlog left when it was sent |",
            "|---|---|---|---|",
            *rows,
            "",
            f"Ratio {f.ratio:.2f}x, target ≤ {TARGET_RATIO:.0f}x: {verdict}. The floor here is one batch of the other",
            "domain already received when the small bulk send arrives (the local stack polls each queue with one",
            "execution environment, batch by batch), and both share the embedded AWS, which serves DynamoDB one",
            "request at a time.",
            "",
        ]
    )
