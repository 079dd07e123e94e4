"""``GET /domains/{domain}/health`` (docs/api.md): the pause check of
``POST /jobs/bulk`` itself (``common.logic.reputation``), answered rather
than enforced."""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.logic.reputation import WINDOW_HOURS, ReputationCheck
from common.logic.suppressions import checked_domain
from common.models.health import DomainHealth

if TYPE_CHECKING:
    from common.models.api import Caller


def domain_health(domain: str, caller: Caller, *, check: ReputationCheck) -> DomainHealth:
    """``GET /domains/{domain}/health``: the same measure and ``verdict`` as the
    pause check of ``POST /jobs/bulk`` (``ReputationCheck.assess``), so
    ``paused`` and ``message`` are what a bulk send would meet now."""
    domain = checked_domain(domain)
    caller.require(domain)
    reputation, reason = check.assess(domain)
    thresholds = check.thresholds
    return DomainHealth(
        domain=domain,
        window_hours=WINDOW_HOURS,
        sent=reputation.sends,
        bounced=reputation.bounced,
        complained=reputation.complained,
        bounce_rate=reputation.bounce_rate,
        complaint_rate=reputation.complaint_rate,
        bounce_rate_limit=thresholds.bounce_rate,
        complaint_rate_limit=thresholds.complaint_rate,
        paused=reason is not None,
        message=reason,
    )
