"""Fixtures of the end-to-end tests: one local stack for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.stack_process import RunningStack, start_stack, stop_stack, wait_ready


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory) -> Iterator[RunningStack]:
    log = tmp_path_factory.mktemp("local-stack") / "stack.log"
    # A short schedule, so the sweeper runs during the tests too.
    process, env = start_stack(log, EMAILOPS_SCHEDULE_SECONDS="2")
    stack = RunningStack(
        process=process,
        log=log,
        api=f"http://127.0.0.1:{env['EMAILOPS_API_PORT']}",
        lambda_endpoint=f"http://127.0.0.1:{env['EMAILOPS_LAMBDA_PORT']}",
        aws=f"http://127.0.0.1:{env['EMAILOPS_AWS_PORT']}",
    )
    try:
        wait_ready(process, stack.api, log)
        yield stack
    finally:
        stop_stack(process)
