"""Figure 8: what cancelling a bulk send costs (``POST /bulks/{bulk_id}/cancel``),
in calls and in time.

A bulk send of ``size`` goes to a domain of its own while the bulk queue holds
its messages back (a delay of 900 s), so every job is still ``queued`` when the
cancel comes. The figure times the request (its round trip through the local
HTTP API) and the whole cancel: until every job of the bulk reads
``canceled``, including the part the request handed on to the actions queue
(docs/api.md). The calls are the embedded AWS's request log over that stretch:
the request's and the actions queue consumer's. Left out: ``ReceiveMessage``
(the local pollers' long polls, idle or not) and ``BatchGetItem`` (the
benchmark's own reads of the jobs while it waits; the service's cancel path
makes none).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from benchmarks.harness import BenchError, BenchStack
from benchmarks.page import SummaryRow
from benchmarks.workload import addresses, bulk_request

CANCEL_DOMAIN = "cancel.example"
HOLD_SECONDS = 900  # SQS's longest DelaySeconds: no worker claims a job meanwhile
LONG_POLL_SECONDS = 1.5  # the local pollers' long poll, with a margin (as benchmarks.calls)
_LEFT_OUT = {("sqs", "ReceiveMessage"), ("dynamodb", "BatchGetItem")}
# The gateway's limit on one request, which the synchronous part must stay well inside.
GATEWAY_SECONDS = 29


@dataclass(frozen=True)
class CancelCost:
    jobs: int
    canceled_in_request: int  # the answer's "canceled"
    pending: int  # the answer's "pending" (0: the request finished alone)
    request_seconds: float  # the POST's round trip
    total_seconds: float  # from the POST until every job reads canceled
    calls: dict[str, int] = field(default_factory=dict)  # "service:Action" -> count

    @property
    def per_job(self) -> float:
        return sum(self.calls.values()) / self.jobs if self.jobs else 0.0


def _all_canceled(bench: BenchStack, job_ids: list[str]) -> bool:
    jobs = bench.jobs(job_ids)
    return len(jobs) == len(job_ids) and all(job.get("status") == "canceled" for job in jobs)


def measure(bench: BenchStack, *, size: int, timeout: float) -> CancelCost:
    token = bench.token([CANCEL_DOMAIN])
    bench.set_queue_delay(HOLD_SECONDS, ["BulkQueue"])
    time.sleep(LONG_POLL_SECONDS)  # long polls begun before the delay end first
    recorder = bench.recorder
    try:
        answer = bench.post_bulk(
            token, bulk_request(CANCEL_DOMAIN, addresses(size, tag=f"cancel-{uuid.uuid4().hex[:6]}"))
        )
        job_ids = [str(job_id) for job_id in answer["job_ids"]]
        recorder.start()
        mark = recorder.mark()
        started = time.perf_counter()
        response = bench.http.post(
            f"{bench.settings.api_url}/bulks/{answer['bulk_id']}/cancel",
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
        request_seconds = time.perf_counter() - started
        if response.status_code != 200:
            raise BenchError(f"POST /bulks/{{bulk_id}}/cancel answered {response.status_code}: {response.text[:300]}")
        body = response.json()
        bench.wait_until(lambda: _all_canceled(bench, job_ids), timeout=timeout, what="the bulk cancel", interval=0.5)
        total_seconds = time.perf_counter() - started
        segment = recorder.segment(mark, recorder.mark())
        recorder.stop()
    finally:
        bench.set_queue_delay(0, ["BulkQueue"])
        bench.purge("BulkQueue")
    calls: dict[str, int] = {}
    for call, n in segment.calls.items():
        if (call.service, call.action) not in _LEFT_OUT:
            key = f"{call.service}:{call.action}"
            calls[key] = calls.get(key, 0) + n
    return CancelCost(
        jobs=len(job_ids),
        canceled_in_request=int(body["canceled"]),
        pending=int(body.get("pending") or 0),
        request_seconds=request_seconds,
        total_seconds=total_seconds,
        calls=dict(sorted(calls.items())),
    )


# ---------------------------------------------------------------- its part of the page
def summary_row(cost: CancelCost) -> SummaryRow:
    """Figure 8's row of the summary: the request's round trip against the gateway's limit."""
    return SummaryRow(
        "8. Cancel",
        f"POST /bulks/{{bulk_id}}/cancel of a bulk send of {cost.jobs:,}, its round trip",
        f"{cost.request_seconds:.1f} s",
        f"the gateway's limit: {GATEWAY_SECONDS} s",
        cost.request_seconds / GATEWAY_SECONDS,
    )


def section(cost: CancelCost) -> str:
    rows = "\n".join(f"| {key} | {n:,} | {n / cost.jobs:.3f} |" for key, n in cost.calls.items())
    handed = (
        f"The request canceled {cost.canceled_in_request:,} and handed {cost.pending:,} on to the actions queue,"
        " whose consumer canceled them."
        if cost.pending
        else f"The request canceled all {cost.canceled_in_request:,} itself."
    )
    return "\n".join(
        [
            f"## 8. Cancelling a bulk send of {cost.jobs:,}",
            "",
            "`POST /bulks/{bulk_id}/cancel` on a bulk whose jobs are all still queued (benchmarks/cancel.py):",
            "one conditional `UpdateItem` per job; each invocation (the request, and each run of the actions",
            "queue's consumer) first reads the bulk's item (`GetItem`) and its 4 `ByBulk` shards (`Query`);",
            "the request also marks the bulk's item canceled first (one `UpdateItem`).",
            "",
            "| | |",
            "|---|---|",
            f"| the request's round trip | {cost.request_seconds:.1f} s (the gateway allows {GATEWAY_SECONDS} s) |",
            f"| until every job reads canceled | {cost.total_seconds:.1f} s |",
            f"| calls in all | {sum(cost.calls.values()):,} ({cost.per_job:.3f} per job) |",
            "",
            handed,
            "",
            "| call | count | per job |",
            "|---|---|---|",
            rows,
            "",
            "Here the embedded AWS serves the writes one at a time"
            f" ({cost.total_seconds / cost.jobs * 1000:.0f} ms per job over the whole cancel, hand-offs included),",
            "so the request stops within its 10 s and hands the rest on. In DynamoDB, whose conditional writes",
            "take milliseconds, the request's 8 at a time should cancel 1,000 in about a second (an estimate,",
            "not measured here): within the request.",
            "",
        ]
    )
