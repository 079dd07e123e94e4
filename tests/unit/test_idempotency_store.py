"""The idempotency store over botocore stores and raises what Powertools' own
DynamoDB layer (over boto3) does, step by step, each over a table of its own."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from moto import mock_aws

from common.adapters.idempotency_store import IdempotencyStore

CONFIG = IdempotencyConfig(
    event_key_jmespath="[caller, key]",
    payload_validation_jmespath="request",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=60,
)
FIRST = {"caller": "alice", "key": "k1", "request": {"subject": "Hello"}}
CHANGED = {"caller": "alice", "key": "k1", "request": {"subject": "Hello again"}}
TIMES = {"expiration", "in_progress_expiration"}


@pytest.fixture
def layers() -> Iterator[dict[str, tuple[BasePersistenceLayer, Callable[[], list[dict[str, Any]]]]]]:
    """Powertools' layer and ours, each configured as a bulk send configures it, with a way to scan its table."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        made: dict[str, tuple[BasePersistenceLayer, Callable[[], list[dict[str, Any]]]]] = {}
        for name in ("powertools", "ours"):
            client.create_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
            layer: BasePersistenceLayer = (
                DynamoDBPersistenceLayer(table_name=name, boto3_client=client)
                if name == "powertools"
                else IdempotencyStore(name, client)
            )
            layer.configure(CONFIG, function_name="bulk_send")

            def scan(table: str = name) -> list[dict[str, Any]]:
                return client.scan(TableName=table)["Items"]

            made[name] = (layer, scan)
        yield made


def _outcome(step: Callable[[], object]) -> object:
    """What a step returned, or the type of what it raised."""
    try:
        return step()
    except Exception as exc:  # noqa: BLE001 - the exception's type is what is compared
        return type(exc)


def _same_items(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    """The same attributes and values, the times (written a moment apart) within 2 seconds."""
    assert len(ours) == len(theirs)
    for mine, powertools in zip(ours, theirs, strict=True):
        assert mine.keys() == powertools.keys()
        for name, value in mine.items():
            if name in TIMES:
                assert abs(int(value["N"]) - int(powertools[name]["N"])) <= 2000
            else:
                assert value == powertools[name], name


def test_each_step_stores_and_raises_what_powertools_layer_does(layers: dict[str, Any]) -> None:
    steps: list[tuple[str, Callable[[BasePersistenceLayer], object]]] = [
        ("first attempt takes the key", lambda layer: layer.save_inprogress(FIRST, 30_000)),
        ("a repeat while it runs", lambda layer: layer.save_inprogress(FIRST, 30_000)),
        ("the same key for another request", lambda layer: layer.save_inprogress(CHANGED, 30_000)),
        ("the response kept", lambda layer: layer.save_success(FIRST, {"bulk_id": "01J", "queued": 2})),
        ("a repeat after it", lambda layer: layer.save_inprogress(FIRST, 30_000)),
        ("the record read back", lambda layer: _read(layer, FIRST)),
        ("another request read", lambda layer: _read(layer, CHANGED)),
        ("a failed attempt lets the key go", lambda layer: layer.delete_record(FIRST, ValueError("boom"))),
        ("nothing left to read", lambda layer: _read(layer, FIRST)),
    ]
    expected = [
        None,
        IdempotencyItemAlreadyExistsError,
        IdempotencyValidationError,
        None,
        IdempotencyItemAlreadyExistsError,
        ("COMPLETED", {"bulk_id": "01J", "queued": 2}),
        IdempotencyValidationError,
        None,
        IdempotencyItemNotFoundError,
    ]
    for (what, step), wanted in zip(steps, expected, strict=True):
        outcomes = {name: _outcome(lambda step=step, layer=layer: step(layer)) for name, (layer, _) in layers.items()}
        assert outcomes["ours"] == outcomes["powertools"] == wanted, what
        _same_items(layers["ours"][1](), layers["powertools"][1]())
    assert layers["ours"][1]() == []


def test_a_key_whose_attempt_timed_out_can_be_taken_again(layers: dict[str, Any]) -> None:
    for layer, _ in layers.values():
        layer.save_inprogress(FIRST, 1)  # its Lambda had 1 ms left
    time.sleep(0.01)
    for layer, _ in layers.values():
        layer.save_inprogress(FIRST, 30_000)  # no IdempotencyItemAlreadyExistsError: the key is taken over
    _same_items(layers["ours"][1](), layers["powertools"][1]())
    (item,) = layers["ours"][1]()
    assert item["status"] == {"S": "INPROGRESS"}
    assert int(item["in_progress_expiration"]["N"]) > time.time() * 1000 + 20_000


def _read(layer: BasePersistenceLayer, data: dict[str, Any]) -> tuple[str, object]:
    record = layer.get_record(data)
    return record.status, record.response_json_as_dict()
