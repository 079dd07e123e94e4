"""Reading moto's request log as calls per service and action."""

from __future__ import annotations

import base64
import json
from typing import Any

from benchmarks.recording import BENCH_AGENT, Call, SdkObserver, iter_entries, parse_entry


def _entry(
    body: dict[str, Any] | str,
    *,
    service: str,
    target: str | None = None,
    url: str = "http://127.0.0.1/",
    method: str = "POST",
    agent: str = "Boto3/1.44",
) -> dict[str, Any]:
    headers = {
        "User-Agent": agent,
        "Authorization": f"AWS4-HMAC-SHA256 Credential=local/20261123/us-east-1/{service}/aws4_request, Signature=x",
    }
    if target:
        headers["X-Amz-Target"] = target
    raw = body if isinstance(body, str) else json.dumps(body)
    return {
        "headers": headers,
        "method": method,
        "url": url,
        "body": base64.b64encode(raw.encode()).decode(),
        "body_encoded": True,
    }


def test_json_protocol_calls_are_named_by_their_target_and_table() -> None:
    entry = _entry({"RequestItems": {"jobs": []}}, service="dynamodb", target="DynamoDB_20120810.BatchWriteItem")

    parsed = parse_entry(entry)

    assert parsed is not None
    assert parsed[0] == Call("dynamodb", "BatchWriteItem", "jobs")


def test_rest_and_query_protocol_calls_are_named_too() -> None:
    ses = _entry({"Content": {}}, service="ses", url="http://127.0.0.1/v2/email/outbound-emails")
    sqs = _entry("Action=SendMessageBatch&QueueUrl=q", service="sqs")

    calls = [parsed[0] for parsed in (parse_entry(ses), parse_entry(sqs)) if parsed is not None]

    assert calls == [Call("ses", "SendEmail"), Call("sqs", "SendMessageBatch")]


def test_the_benchmarks_own_requests_and_unsigned_ones_are_left_out() -> None:
    mine = _entry({}, service="sqs", target="AmazonSQS.GetQueueAttributes", agent=f"Boto3/1.44 {BENCH_AGENT}")
    unsigned = {"headers": {"User-Agent": "curl"}, "method": "GET", "url": "http://127.0.0.1/moto-api/data.json"}

    assert parse_entry(mine) is None
    assert parse_entry(unsigned) is None


def test_interleaved_and_partial_lines_do_not_lose_whole_entries() -> None:
    # Two objects written without a newline between them, and a last one cut short
    text = '{"a": 1}{"b": 2}\n\n{"c": 3}\n{"d": '

    assert list(iter_entries(text)) == [{"a": 1}, {"b": 2}, {"c": 3}]


class _Model:
    def __init__(self, service: str, name: str) -> None:
        self.name = name
        self.service_model = type("ServiceModel", (), {"service_name": service})()


def test_the_observer_counts_every_dynamodb_request_and_the_items_it_read() -> None:
    observer = SdkObserver()

    observer._on_any_call(parsed={"Items": [], "Count": 3, "ScannedCount": 7}, model=_Model("dynamodb", "Query"))
    observer._on_any_call(
        parsed={"Responses": {"t": [{"a": 1}, {"b": 2}]}, "UnprocessedKeys": {}},
        model=_Model("dynamodb", "BatchGetItem"),
    )
    observer._on_any_call(parsed={"Item": {"pk": 1}}, model=_Model("dynamodb", "GetItem"))
    observer._on_any_call(parsed={}, model=_Model("dynamodb", "GetItem"))  # no such item
    observer._on_any_call(parsed={"Messages": [{}]}, model=_Model("sqs", "ReceiveMessage"))

    seen = observer.snapshot()
    assert (seen.dynamodb_requests, seen.dynamodb_items) == (4, 7 + 2 + 1)


def test_a_watched_thread_s_calls_and_the_messages_it_sends_are_its_own() -> None:
    observer = SdkObserver()
    tally = observer.watch()

    observer._on_any_call(parsed={"Count": 2}, model=_Model("dynamodb", "Query"))
    observer._before_send_message(params={"Entries": [{}, {}, {}]})
    observer._before_send_message(params={"MessageBody": "x"})
    observer.unwatch()
    observer._on_any_call(parsed={"Count": 5}, model=_Model("dynamodb", "Query"))  # not watched any more

    assert tally.requests == {"dynamodb:Query": 1}
    assert (tally.dynamodb_requests, tally.items_read, tally.messages_sent) == (1, 2, 4)


def test_ses_s_refusals_for_its_rate_are_counted_apart_from_its_sends() -> None:
    observer = SdkObserver()

    observer._on_send(parsed={"MessageId": "m"})
    observer._on_send(parsed={"Error": {"Code": "TooManyRequestsException"}})
    observer._on_send(parsed={"Error": {"Code": "MessageRejected"}})

    assert (observer.snapshot().ses_sends, observer.snapshot().ses_throttled) == (1, 1)
