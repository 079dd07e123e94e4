"""GET /domains/{domain}/health: a domain's jobs sent in the last 24 hours,
its bounce and complaint rates beside the pause thresholds, and ``paused``
exactly when POST /jobs/bulk answers 409 domain_paused, with the same
message (one code path: common/logic/reputation.py)."""

from __future__ import annotations

from typing import Any

import pytest

from common.models.settings import reset_settings
from local.template import Stack
from tests.integration.api_support import Admin
from tests.integration.suppression_support import Reply, call
from tests.integration.test_domain_paused import ACME, BETA, history, post

FIELDS = {
    "domain",
    "window_hours",
    "sent",
    "bounced",
    "complained",
    "bounce_rate",
    "complaint_rate",
    "bounce_rate_limit",
    "complaint_rate_limit",
    "paused",
    "message",
}


@pytest.fixture
def admin(stack: Stack, lambda_context: Any) -> Admin:
    return Admin(lambda_context, domains=f"{ACME} {BETA}")


def health(domain: str = ACME, *, domains: str = f"{ACME} {BETA}") -> Reply:
    return call(
        "list_jobs",
        "GET",
        f"/domains/{domain}/health",
        "/domains/{domain}/health",
        params={"domain": domain},
        domains=domains,
    )


def test_the_rates_are_over_the_jobs_sent_in_the_last_24_hours(admin: Admin) -> None:
    # Given 100 delivered, 3 bounced for good, 2 bounced for now, 1 complained in the last day,
    history(delivered=94, bounced=3, complained=1)
    history(bounced=2, transient=True)
    # jobs never sent, and bounces sent 26 hours ago
    history(failed=5, suppressed=5, canceled=5, queued=5)
    history(hours_ago=26, bounced=50)
    reply = health()
    assert reply.status == 200, reply.text
    body = reply.json
    assert set(body) == FIELDS
    assert body["domain"] == ACME and body["window_hours"] == 24
    assert (body["sent"], body["bounced"], body["complained"]) == (100, 3, 1)
    assert body["bounce_rate"] == pytest.approx(0.03)
    assert body["complaint_rate"] == pytest.approx(0.01)
    # the limits are the template's (5%, 0.1%); 1% of complaints passes 0.1%
    assert (body["bounce_rate_limit"], body["complaint_rate_limit"]) == (0.05, 0.001)
    assert body["paused"] is True
    assert "marked as spam" in body["message"]


def test_nothing_sent_is_rates_of_zero_and_not_paused(admin: Admin) -> None:
    body = health().json
    assert (body["sent"], body["bounce_rate"], body["complaint_rate"], body["paused"], body["message"]) == (
        0,
        0,
        0,
        False,
        None,
    )


@pytest.mark.parametrize(
    "statuses",
    [
        {"sent": 60, "delivered": 40, "bounced": 6},  # 5.7% bounced: paused
        {"delivered": 199, "complained": 1},  # 0.5% complained: paused
        {"sent": 100, "bounced": 4},  # 3.8%: not paused
        {"sent": 40, "bounced": 40},  # 50%, but too few sends to judge
        {"sent": 100, "bounced": 6, "suppressed": 60, "failed": 30},  # never sent: not sends
    ],
)
def test_paused_is_exactly_when_a_bulk_send_is_409_with_the_same_message(
    admin: Admin, statuses: dict[str, int]
) -> None:
    history(**statuses)
    body = health().json
    refused = post(admin)
    assert body["paused"] is (refused.status == 409)
    if body["paused"]:
        assert refused.body["error"]["code"] == "domain_paused"
        assert body["message"] == refused.body["error"]["message"]
    else:
        assert refused.status == 202 and body["message"] is None


def test_an_exempt_domain_shows_its_rates_and_is_not_paused(admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
    history(sent=100, bounced=50)
    monkeypatch.setenv("PAUSE_EXEMPT_DOMAINS", ACME)
    reset_settings()
    body = health().json
    assert (body["sent"], body["bounced"], body["paused"], body["message"]) == (150, 50, False, None)
    assert post(admin).status == 202


def test_the_thresholds_are_the_template_s_parameters(admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
    history(sent=20, bounced=2)  # 9.1% of 22
    monkeypatch.setenv("PAUSE_MINIMUM_SENDS", "20")
    monkeypatch.setenv("PAUSE_BOUNCE_RATE", "9")
    reset_settings()
    body = health().json
    assert (body["bounce_rate_limit"], body["paused"]) == (0.09, True)
    assert body["message"] == post(admin).body["error"]["message"]


def test_the_template_passes_the_thresholds_to_the_log_function(stack: Stack) -> None:
    health_env = stack.function_environment("ListJobsFunction")
    bulk_env = stack.function_environment("BulkQueueFunction")
    for name in ("PAUSE_BOUNCE_RATE", "PAUSE_COMPLAINT_RATE", "PAUSE_MINIMUM_SENDS", "PAUSE_EXEMPT_DOMAINS"):
        assert health_env[name] == bulk_env[name]


def test_another_tenants_domain_is_403_and_every_domain_may_see_it(admin: Admin) -> None:
    history(BETA, sent=100, bounced=50)
    reply = health(BETA, domains=ACME)
    assert (reply.status, reply.code) == (403, "forbidden")
    assert "100" not in reply.text
    assert health(BETA, domains="*").json["paused"] is True


def test_a_domain_that_is_not_a_host_name_is_400(admin: Admin) -> None:
    reply = health("not_a_domain!")
    assert (reply.status, reply.code) == (400, "invalid_request")
