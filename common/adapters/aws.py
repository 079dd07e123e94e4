"""AWS clients: made once per execution environment, lazily, never at import time.

They are botocore's clients, made by one botocore session, as ``boto3.client``
makes them (boto3's default session is a botocore session underneath), without
importing boto3: its package brings s3transfer and multiprocessing, which no
function here uses (docs/adr/0033-cold-starts.md).

Adapters take a client in their constructor, so tests can hand in their own
(a moto-backed one, or one wrapped in ``botocore.stub.Stubber``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config

from common.adapters.service_data import use_for

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sqs import SQSClient

    from common.adapters.secret_values import SecretValues

# DynamoDB, SQS and S3: botocore's standard mode retries throttling and 5xx with
# backoff; that is the only retry layer for them.
_RETRYING = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)
# SES: no retry inside the call. A failed send is retried through the queue
# with a growing delay and counted as an attempt, so retries do not multiply.
# Explicit timeouts bound one send, so the worker knows whether one more fits
# in the time its invocation has left (SendEmail answers in well under a second).
SES_CONNECT_TIMEOUT_SECONDS = 2
SES_READ_TIMEOUT_SECONDS = 5
_SINGLE_SHOT = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=SES_CONNECT_TIMEOUT_SECONDS,
    read_timeout=SES_READ_TIMEOUT_SECONDS,
)


# EventBridge (the status events): short timeouts and one retry inside the
# call; the publisher puts refused entries again itself, and a slow or absent
# EventBridge must not hold a worker's batch for long.
_EVENTS = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=3)


# A botocore session is not thread-safe; clients are (the local stack runs
# several functions' first invocations at once in one process).
_MAKING = threading.Lock()


# What is done to each session made here: nothing in Lambda. Outside it, the
# local stack and the tests hook their AWS permission check here (add_session_hook).
SessionHook = Callable[[botocore.session.Session], None]
_session_hooks: list[SessionHook] = []


@cache
def session() -> botocore.session.Session:
    """The one botocore session the functions' clients come from (the benchmarks hook its events).
    Its data loader reads botocore's models for less (common.adapters.service_data)."""
    made = use_for(botocore.session.get_session())
    for hook in _session_hooks:
        hook(made)
    return made


def add_session_hook(hook: SessionHook) -> None:
    """Run ``hook`` on the functions' session, now and on each one made after
    ``reset_clients()``: a seam for what runs the functions outside Lambda
    (the local stack and the tests register the check of each call against
    the function's IAM role; see docs/local-stack.md). Adding a hook twice
    adds it once. The clients made before are forgotten, so every client
    made from now on carries the hook; the session itself is kept (others may
    have hooked it)."""
    with _MAKING:
        if hook in _session_hooks:
            return
        _session_hooks.append(hook)
        if session.cache_info().currsize:
            hook(session())
    _forget_clients()


def _client(service: str, config: Config) -> Any:
    with _MAKING:
        return session().create_client(service, config=config)


@cache
def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", _client("dynamodb", _RETRYING))


@cache
def sqs() -> SQSClient:
    return cast("SQSClient", _client("sqs", _RETRYING))


@cache
def s3() -> S3Client:
    return cast("S3Client", _client("s3", _RETRYING))


@cache
def sesv2() -> SESV2Client:
    return cast("SESV2Client", _client("sesv2", _SINGLE_SHOT))


@cache
def events() -> Any:
    """EventBridge (``PutEvents`` of the status events)."""
    return _client("events", _EVENTS)


@cache
def secretsmanager() -> SecretsManagerClient:
    return cast("SecretsManagerClient", _client("secretsmanager", _RETRYING))


@cache
def secrets() -> SecretValues:
    """The secrets read, each kept for the ``max_age`` its reader gives, for the
    life of the execution environment (over ``secretsmanager()``)."""
    # Deferred: loaded at init by the functions that read a secret (through common.adapters.secrets).
    from common.adapters.secret_values import SecretValues  # noqa: PLC0415

    return SecretValues(secretsmanager())


def _forget_clients() -> None:
    for getter in (dynamodb, sqs, s3, sesv2, secretsmanager, events):
        getter.cache_clear()
    secrets.cache_clear()


def reset_clients() -> None:
    """Forget the session, every cached client, and the secrets read (tests
    start a fresh moto backend). Session hooks stay and apply to the next session."""
    session.cache_clear()
    _forget_clients()
