"""A job moved past sending by ``JobsTable.settle`` (a delivery event, a cancel) is
never sent again by a repeated queue message, through the worker on moto."""

from __future__ import annotations

import pytest

from common.models.job import JobStatus, QueueMessage
from local.template import Stack
from tests.integration.test_send_worker import Harness, make_job


@pytest.fixture
def harness(stack: Stack) -> Harness:
    return Harness(stack)


@pytest.mark.parametrize(
    "status",
    [s for s in JobStatus if s.past_sending and s is not JobStatus.SENT],
)
def test_a_settled_job_is_never_sent_again_by_a_repeated_message(harness: Harness, status: JobStatus) -> None:
    # Given a job sent once, then settled by an event or a cancel
    job = harness.put(make_job())[0]
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    assert harness.sent_to("owner@acme.com") == 1
    assert harness.table.settle(job.job_id, status)
    # When its message comes again (SQS delivers at least once; the sweeper may queue it)
    assert harness.queues.send([QueueMessage.for_job(job)]) == []
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    # Then nothing more is sent, and the job keeps its status and its one attempt
    assert harness.sent_to("owner@acme.com") == 1
    stored = harness.job(job.job_id)
    assert (stored.status, stored.attempts) == (status, 1)


def test_a_job_canceled_while_queued_is_never_sent(harness: Harness) -> None:
    job = harness.put(make_job())[0]
    assert harness.table.settle(job.job_id, JobStatus.CANCELED)
    assert harness.process(harness.deliver()) == {"batchItemFailures": []}
    assert harness.sent_to("owner@acme.com") == 0
    assert harness.job(job.job_id).status is JobStatus.CANCELED
    # And the sweeper does not queue it again
    harness.clock.advance(harness.settings.sweep_grace_seconds + 1)
    assert harness.sweeper().run().found == 0
