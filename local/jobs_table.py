"""Every adapter of the jobs table in one object: for the tests, the benchmarks
and the tools that drive a job through its whole life (write it, claim it,
settle it, sweep it, read it back) over one client.

The functions never use it: each takes the adapters its path needs
(``common.adapters.dynamo`` lists them), and nothing under ``common/`` or
``functions/`` imports ``local`` (tests/unit/test_layers.py). It is the union of
those small classes, each over the same ``TableAdapter``, and adds nothing of
its own (no two of them define the same name: the same test checks it).
"""

from __future__ import annotations

from common.adapters.bulks import Bulks
from common.adapters.idempotency_markers import IdempotencyMarkers
from common.adapters.in_flight import InFlightJobs
from common.adapters.job_claims import JobClaims
from common.adapters.job_indexes import JobIndexes
from common.adapters.job_store import JobStore
from common.adapters.ses_event_writes import SesEventWrites
from common.adapters.status_moves import StatusMoves

ADAPTERS: tuple[type, ...] = (
    JobStore,
    JobIndexes,
    JobClaims,
    StatusMoves,
    InFlightJobs,
    Bulks,
    SesEventWrites,
    IdempotencyMarkers,
)


class JobsTable(JobStore, JobIndexes, JobClaims, StatusMoves, InFlightJobs, Bulks, SesEventWrites, IdempotencyMarkers):
    """``JobsTable(client, table_name, retention_days=...)``: every adapter's methods on one object."""
