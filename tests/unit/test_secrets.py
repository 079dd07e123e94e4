"""Secrets kept per execution environment for the age their reader gives
(common.adapters.secrets), over moto's Secrets Manager."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from moto import mock_aws

from common.adapters import aws
from common.adapters.secret_values import SecretValues
from common.adapters.secrets import read_secret
from common.models.errors import SecretUnavailable
from tests.helpers import Clock, record_secret_reads

NAME = "emailops-cursor-key"


@pytest.fixture
def secretsmanager() -> Iterator[Any]:
    with mock_aws():
        aws.reset_clients()
        client = aws.secretsmanager()
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name=NAME, SecretString="k" * 40)
        yield client
        aws.reset_clients()


@pytest.fixture
def reads(secretsmanager: Any) -> list[str]:
    return record_secret_reads()


def rotate(value: str) -> None:
    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(SecretId=NAME, SecretString=value)


def test_a_value_is_kept_for_its_max_age_then_read_again(secretsmanager: Any, reads: list[str]) -> None:
    clock = Clock()
    values = SecretValues(secretsmanager, clock=clock)
    assert values.get(NAME, max_age=300) == "k" * 40
    # Rotated: the value kept is still answered until 300 s have passed since it was read
    rotate("r" * 40)
    clock.now += 299.9
    assert values.get(NAME, max_age=300) == "k" * 40
    assert reads == [NAME]
    clock.now += 0.1
    assert values.get(NAME, max_age=300) == "r" * 40
    assert reads == [NAME, NAME]
    # The new value is kept from its own read
    clock.now += 200
    assert values.get(NAME, max_age=300) == "r" * 40
    assert len(reads) == 2


def test_each_reader_takes_a_value_only_as_old_as_its_own_max_age(secretsmanager: Any, reads: list[str]) -> None:
    clock = Clock()
    values = SecretValues(secretsmanager, clock=clock)
    assert values.get(NAME, max_age=300) == "k" * 40
    rotate("r" * 40)
    # A reader that keeps nothing reads again, whatever another reader keeps
    assert values.get(NAME, max_age=0) == "r" * 40
    assert values.get(NAME, max_age=0) == "r" * 40
    rotate("s" * 40)
    clock.now += 60
    # A reader of 60 s reads again; one of 300 s takes that read
    assert values.get(NAME, max_age=60) == "s" * 40
    assert values.get(NAME, max_age=300) == "s" * 40
    assert len(reads) == 4


def test_the_environment_reads_each_secret_through_one_keeper(secretsmanager: Any, reads: list[str]) -> None:
    assert aws.secrets() is aws.secrets()
    for _ in range(3):
        assert read_secret(NAME, max_age=300, min_length=16) == "k" * 40
    assert reads == [NAME]


def test_a_value_too_short_or_binary_is_refused_without_quoting_it(secretsmanager: Any) -> None:
    with pytest.raises(SecretUnavailable, match="at least 64 characters") as refused:
        read_secret(NAME, max_age=0, min_length=64)
    assert "k" * 40 not in str(refused.value)
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name="binary", SecretBinary=b"k" * 40)
    with pytest.raises(SecretUnavailable, match="not a string"):
        read_secret("binary", max_age=0)


def test_a_failed_read_names_the_error_code_only_and_is_not_kept(secretsmanager: Any, reads: list[str]) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:emailops-cursor-key-AbCdEf"
    values = SecretValues(secretsmanager, clock=Clock())
    with Stubber(secretsmanager) as stubber:
        stubber.add_client_error(
            "get_secret_value",
            service_error_code="AccessDeniedException",
            service_message=f"not authorized to perform secretsmanager:GetSecretValue on resource: {arn}",
            http_status_code=400,
        )
        with pytest.raises(SecretUnavailable) as refused:
            read_secret(arn, max_age=300, values=values)
    assert str(refused.value) == "a secret could not be read: AccessDeniedException"
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__
    # The next request reads again, and succeeds
    assert read_secret(NAME, max_age=300, values=values) == "k" * 40


def test_an_unreachable_endpoint_is_named_by_its_type(secretsmanager: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(**_: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com/")

    monkeypatch.setattr(secretsmanager, "get_secret_value", unreachable)
    with pytest.raises(SecretUnavailable) as refused:
        read_secret(NAME, max_age=300, values=SecretValues(secretsmanager))
    assert str(refused.value) == "a secret could not be read: EndpointConnectionError"
