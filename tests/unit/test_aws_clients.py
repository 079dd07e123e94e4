"""The functions' clients: botocore's, one per service per execution environment,
made one at a time (a botocore session is not thread-safe)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from common.adapters import aws


@pytest.fixture(autouse=True)
def _fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.reset_clients()
    yield
    aws.reset_clients()


def test_each_service_has_one_client_with_its_retry_configuration() -> None:
    assert aws.dynamodb() is aws.dynamodb()
    assert aws.sqs() is not aws.dynamodb()
    # botocore keeps max_attempts=4 (retries) as total_max_attempts=5 (calls)
    assert aws.dynamodb().meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    # SES is tried once per call: a failed send is retried through the queue
    assert aws.sesv2().meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert aws.sesv2().meta.config.read_timeout == aws.SES_READ_TIMEOUT_SECONDS


def test_clients_are_made_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    session = aws.session()
    making = {"now": 0, "most": 0}
    lock = threading.Lock()
    real = session.create_client

    def slow_create(*args: Any, **kwargs: Any) -> Any:
        with lock:
            making["now"] += 1
            making["most"] = max(making["most"], making["now"])
        time.sleep(0.05)
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                making["now"] -= 1

    monkeypatch.setattr(session, "create_client", slow_create)
    getters = [aws.dynamodb, aws.sqs, aws.s3, aws.sesv2, aws.secretsmanager]
    threads = [threading.Thread(target=getter) for getter in getters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert making["most"] == 1
    assert all(getter.cache_info().currsize == 1 for getter in getters)  # type: ignore[attr-defined]


def test_a_session_hook_runs_on_the_session_and_on_each_one_made_after_a_reset() -> None:
    seen: list[Any] = []

    def hook(session: Any) -> None:
        seen.append(session)

    session, before = aws.session(), aws.dynamodb()
    aws.add_session_hook(hook)
    try:
        # The session others may have hooked is kept; the clients are made again, from it
        assert seen == [session] and aws.session() is session
        assert aws.dynamodb() is not before
        aws.add_session_hook(hook)  # added twice, run once
        assert seen == [session]
        aws.reset_clients()
        assert aws.session() is not session
        assert seen == [session, aws.session()]
    finally:
        aws._session_hooks.remove(hook)  # leave the process's hooks as they were
