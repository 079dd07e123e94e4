"""The ``domain`` message tag meets SES's documented rule (letters, digits,
``_`` and ``-``), and the events function reads the domain back from it."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from common.adapters.mailer import Mailer, domain_from_tag, domain_tag
from common.models.job import Bodies, Job, JobType, new_job_id
from local.limits.sesv2 import check_tags
from tests.unit.test_ses_event_meaning import meaning, sample

SES_TAG_VALUE = re.compile(r"^[A-Za-z0-9_-]{0,256}$")  # SES API v2 reference, MessageTag
LABEL = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
DOMAINS = st.lists(LABEL, min_size=2, max_size=4).map(".".join).filter(lambda d: len(d) <= 253)


@given(DOMAINS)
def test_every_domain_becomes_a_tag_value_ses_documents_and_comes_back(domain):
    value = domain_tag(domain)
    assert SES_TAG_VALUE.match(value)
    assert domain_from_tag(value) == domain


def test_a_tag_written_before_the_encoding_still_names_its_domain():
    assert domain_from_tag("acme.com") == "acme.com"


class RecordingSes:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def send_email(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return {"MessageId": "m-1"}


def test_the_worker_tags_each_email_within_ses_s_rule():
    ses = RecordingSes()
    job_id, created_at = new_job_id()
    job = Job(
        job_id=job_id,
        created_at=created_at,
        domain="mail.acme-co.com",
        type=JobType.AI_FOLLOWUP,
        recipient="owner@acme.com",
        subject="s",
        body=job_id,
    )

    Mailer(ses, sender="noreply@acme.com", configuration_set="set").send(job, Bodies(text="t"))

    (request,) = ses.requests
    assert request["EmailTags"] == [
        {"Name": "job_id", "Value": job_id},
        {"Name": "domain", "Value": "mail_acme-co_com"},
        {"Name": "type", "Value": "ai_followup"},
    ]
    check_tags(request["EmailTags"])  # what the embedded SES (and SES) accepts


def test_the_events_function_reads_the_domain_from_its_tag():
    event = sample("ses_delivery.json", domain="mail_acme-co_com")
    assert meaning(event).domain == "mail.acme-co.com"
