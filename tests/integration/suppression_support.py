"""Calling the suppression and unsubscribe functions (and their neighbours) as
API Gateway does, on the moto stack built from template.yaml."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import boto3

from common.adapters import aws
from common.adapters.suppressions import SuppressionStore
from common.models.listing import get_list_jobs_settings
from common.models.suppression import SuppressionEntry, SuppressionReason
from local.events import http_event, sqs_event
from local.template import Stack
from tests.conftest import FakeLambdaContext
from tests.helpers import load_function

REGION = "us-east-1"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None

    @property
    def code(self) -> str | None:
        body = self.json if self.text.startswith("{") else None
        return body.get("error", {}).get("code") if isinstance(body, dict) else None


def call(
    function: str,
    method: str,
    path: str,
    route: str,
    *,
    params: dict[str, str] | None = None,
    query: str = "",
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
    domains: str | None = "acme.com",
    sub: str = "admin-1",
) -> Reply:
    """One request to ``functions/<function>`` (``domains``: the caller's claim; None: no JWT)."""
    claims = {"sub": sub, "domains": domains} if domains is not None else None
    event = http_event(
        method=method,
        raw_path=path,
        route_key=f"{method} {route}",
        path_parameters=params,
        raw_query_string=query,
        headers=(("host", "api.example.com"), ("x-forwarded-proto", "https"), *headers),
        body=body,
        claims=claims,
    )
    response = load_function(function).handler(event, FakeLambdaContext())
    raw = response.get("body") or ""
    return Reply(response["statusCode"], {k.lower(): v for k, v in (response.get("headers") or {}).items()}, raw)


def put(domain: str, email: str, *, domains: str | None = "acme.com", sub: str = "admin-1") -> Reply:
    path = f"/suppressions/{quote(domain)}/{quote(email, safe='@')}"
    return call(
        "suppressions",
        "PUT",
        path,
        "/suppressions/{domain}/{email}",
        params={"domain": domain, "email": email},
        domains=domains,
        sub=sub,
    )


def delete(domain: str, email: str, *, domains: str | None = "acme.com", sub: str = "admin-1") -> Reply:
    path = f"/suppressions/{quote(domain)}/{quote(email, safe='@')}"
    return call(
        "suppressions",
        "DELETE",
        path,
        "/suppressions/{domain}/{email}",
        params={"domain": domain, "email": email},
        domains=domains,
        sub=sub,
    )


def listing(*, domains: str | None = "acme.com", **query: Any) -> Reply:
    return call("suppressions", "GET", "/suppressions", "/suppressions", query=urlencode(query), domains=domains)


def unsubscribe(method: str, token: str, *, body: bytes = b"", content_type: str | None = None) -> Reply:
    headers = (("content-type", content_type),) if content_type else ()
    return call(
        "unsubscribe",
        method,
        f"/unsubscribe/{token}",
        "/unsubscribe/{token}",
        params={"token": token},
        body=body,
        headers=headers,
        domains=None,
    )


def store() -> SuppressionStore:
    return SuppressionStore(aws.dynamodb(), get_list_jobs_settings().jobs_table)


def listed(domain: str, email: str, reason: SuppressionReason, *, at: datetime, job_id: str | None = None) -> None:
    """An entry as the SES events function writes it (the same item)."""
    store().add(SuppressionEntry(domain=domain, email=email, reason=reason, created_at=at, job_id=job_id))


def receive_all(stack: Stack, logical: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    url = stack.names[logical]
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch


def deliver(stack: Stack, logical: str) -> dict[str, Any]:
    """The queue's messages as one SQS event for the worker."""
    return sqs_event(receive_all(stack, logical), queue_arn=stack.arns[logical], region=REGION)
