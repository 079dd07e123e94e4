"""Driving the admin API's two functions as API Gateway does: HTTP API payload
2.0 events (from ``tests/events/api_*.json``) with the JWT authorizer's claims."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from common.adapters import aws
from common.adapters.bodies import BodyStore
from common.models.clock import utc_now
from common.models.job import Bodies, Job, JobStatus, JobType, new_job_id
from common.models.listing import get_list_jobs_settings
from local.jobs_table import JobsTable
from tests.helpers import load_function, put_with_bodies

# The body of each job made by make_job, by body id (stored apart from the job).
BODIES: dict[str, Bodies] = {}

EVENTS = Path(__file__).resolve().parent.parent / "events"
ORIGIN = "https://app.example.com"  # template.yaml's CorsAllowOrigin default
_NO_CLAIMS = object()


def event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"api_{name}.json").read_text(encoding="utf-8"))
    return loaded


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def code(self) -> str | None:
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


@dataclass
class Admin:
    """One caller of the API: a JWT's claims, as the authorizer passes them on."""

    context: Any
    domains: Any = "acme.com"
    sub: str = "admin-1"
    claims: Any = _NO_CLAIMS  # the whole claims object, when a test needs it odd
    authorizer: bool = True
    origin: str | None = ORIGIN
    extra_headers: dict[str, str] = field(default_factory=dict)

    def _event(self, name: str, method: str, path: str) -> dict[str, Any]:
        ev = event(name)
        ev["rawPath"] = ev["requestContext"]["http"]["path"] = path
        ev["requestContext"]["http"]["method"] = method
        claims = {"sub": self.sub, "domains": self.domains} if self.claims is _NO_CLAIMS else self.claims
        if self.authorizer:
            ev["requestContext"]["authorizer"]["jwt"]["claims"] = claims
        else:
            ev["requestContext"].pop("authorizer")
        if self.origin is None:
            ev["headers"].pop("origin", None)
        else:
            ev["headers"]["origin"] = self.origin
        ev["headers"].update(self.extra_headers)
        return ev

    def _call(self, function: str, ev: dict[str, Any]) -> Reply:
        response = load_function(function).handler(ev, self.context)
        raw = response.get("body") or ""
        return Reply(response["statusCode"], json.loads(raw) if raw else None, response.get("headers") or {})

    def list_jobs(self, **query: Any) -> Reply:
        ev = self._event("list_jobs", "GET", "/jobs")
        params = {k: str(v) for k, v in query.items() if v is not None}
        ev["rawQueryString"] = urlencode(params)
        if params:
            ev["queryStringParameters"] = params
        else:
            ev.pop("queryStringParameters", None)
        return self._call("list_jobs", ev)

    def get(self, job_id: str) -> Reply:
        ev = self._event("get_job", "GET", f"/jobs/{job_id}")
        ev["pathParameters"] = {"job_id": job_id}
        return self._call("list_jobs", ev)

    def bulk_progress(self, bulk_id: str) -> Reply:
        ev = self._event("get_job", "GET", f"/bulks/{bulk_id}")
        ev["routeKey"] = "GET /bulks/{bulk_id}"
        ev["pathParameters"] = {"bulk_id": bulk_id}
        return self._call("list_jobs", ev)

    def bulk(self, body: Any, *, key: str | None = None) -> Reply:
        ev = self._event("bulk_queue", "POST", "/jobs/bulk")
        ev["body"] = body if isinstance(body, str) else json.dumps(body)
        ev["headers"].pop("idempotency-key", None)
        if key is not None:
            ev["headers"]["idempotency-key"] = key
        return self._call("bulk_queue", ev)

    def pages(self, **query: Any) -> list[Reply]:
        """Every page of a listing, following next_cursor."""
        replies = [self.list_jobs(**query)]
        while replies[-1].status == 200 and replies[-1].body["next_cursor"]:
            replies.append(self.list_jobs(**query, cursor=replies[-1].body["next_cursor"]))
        return replies


def jobs_table() -> JobsTable:
    return JobsTable(aws.dynamodb(), get_list_jobs_settings().jobs_table)


def body_store() -> BodyStore:
    settings = get_list_jobs_settings()
    return BodyStore(aws.dynamodb(), settings.jobs_table, aws.s3(), settings.bodies_bucket)


def store_jobs(jobs: list[Job], *, due_at: int = 0) -> None:
    """Write jobs made by make_job with their bodies, as enqueue does."""
    put_with_bodies(jobs_table(), body_store(), jobs, BODIES, due_at=due_at)


def _seeded_job_id(at: datetime, ids: random.Random) -> tuple[str, datetime]:
    """A ULID of ``at`` (to the millisecond) whose random part comes from ``ids``:
    the same draw gives the same ids, and so the same shards, each run."""
    from ulid import ULID

    ulid = ULID.from_int((int(at.timestamp() * 1000) << 80) | ids.getrandbits(80))
    return str(ulid), ulid.datetime


def make_job(
    domain: str = "acme.com",
    *,
    job_type: JobType = JobType.AI_FOLLOWUP,
    status: JobStatus = JobStatus.SENT,
    recipient: str = "visitor@example.org",
    at: datetime | None = None,
    body: str = "Thanks for your visit.",
    ids: random.Random | None = None,
) -> Job:
    job_id, created_at = new_job_id(at) if ids is None else _seeded_job_id(at or utc_now(), ids)
    sent = status is JobStatus.SENT
    BODIES[job_id] = Bodies(text=body)
    return Job(
        job_id=job_id,
        created_at=created_at,
        domain=domain,
        type=job_type,
        recipient=recipient,
        subject=f"About your visit to {domain}",
        status=status,
        attempts=1 if status is not JobStatus.QUEUED else 0,
        sent_at=created_at if sent else None,
        error="Mailbox unavailable" if status is JobStatus.FAILED else None,
        body=job_id,
        message_id="ses-1" if sent else None,
    )


def spread(count: int, *, start: datetime | None = None, step_ms: int = 10) -> list[datetime]:
    """``count`` creation times, oldest first, ``step_ms`` apart."""
    first = start or utc_now() - timedelta(hours=1)
    return [first + timedelta(milliseconds=i * step_ms) for i in range(count)]


def page_ids(replies: list[Reply]) -> list[str]:
    return [item["job_id"] for reply in replies for item in reply.body["items"]]


def quick_queue_counts(monkeypatch: Any) -> None:
    """moto recounts a queue's messages (a scan) on every SendMessage it serves,
    which makes queuing 1,000 messages quadratic; the counts are not used here."""
    from moto.sqs.models import Queue

    for counter in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    ):
        monkeypatch.setattr(Queue, counter, property(lambda self: 0))
