"""Where the bodies bucket is configured: the functions that write or read bodies, and no other."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.models.bulk_send import get_bulk_queue_settings
from common.models.listing import get_list_jobs_settings
from common.models.pipeline_settings import get_enqueue_settings, get_sweeper_settings
from common.models.settings import reset_settings
from common.models.worker_settings import get_worker_settings
from local.template import Stack


def test_every_function_that_touches_bodies_gets_the_bucket_from_the_template(stack: Stack) -> None:
    bucket = stack.names["BodiesBucket"]
    for getter in (get_enqueue_settings, get_bulk_queue_settings, get_worker_settings, get_list_jobs_settings):
        assert getter().bodies_bucket == bucket


@pytest.mark.parametrize(
    "getter", [get_enqueue_settings, get_bulk_queue_settings, get_worker_settings, get_list_jobs_settings]
)
def test_without_the_bucket_those_functions_fail_at_start(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, getter
) -> None:
    monkeypatch.delenv("BODIES_BUCKET")
    reset_settings()
    with pytest.raises(ValidationError, match="BODIES_BUCKET"):
        getter()


def test_the_sweeper_does_without_it(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BODIES_BUCKET")
    reset_settings()
    assert get_sweeper_settings().jobs_table == stack.names["JobsTable"]
