"""The events the local stack builds are the events AWS builds: checked
against Powertools' models of Lambda's SQS and HTTP API events."""

from __future__ import annotations

import base64
import json

from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model, SqsRecordModel

from local.events import claim_text, failed_message_ids, http_event, http_response, sqs_event

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:emailops-PriorityQueue"


def _message(message_id: str = "m-1", **extra):
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"rh-{message_id}",
        "MD5OfBody": "abc",
        "Body": '{"job_id": "x"}',
        "Attributes": {
            "SenderId": "AIDA",
            "SentTimestamp": "1700000000000",
            "ApproximateReceiveCount": "2",
            "ApproximateFirstReceiveTimestamp": "1700000000100",
        },
        **extra,
    }


def test_an_sqs_record_has_every_field_lambda_gives():
    # Given a message as ReceiveMessage returns it, with a message attribute
    message = _message(MessageAttributes={"reason": {"DataType": "String", "StringValue": "poison"}})

    # When it becomes an SQS event
    event = sqs_event([message], queue_arn=QUEUE_ARN, region="us-east-1")

    # Then Lambda's record model accepts it, and the fields carry over
    (record,) = event["Records"]
    parsed = SqsRecordModel.model_validate(record)
    assert parsed.messageId == "m-1"
    assert parsed.receiptHandle == "rh-m-1"
    assert parsed.eventSource == "aws:sqs"
    assert parsed.eventSourceARN == QUEUE_ARN
    assert parsed.attributes.ApproximateReceiveCount == "2"
    assert record["messageAttributes"]["reason"] == {
        "stringValue": "poison",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }


def test_batch_item_failures_are_read_as_lambda_reads_them():
    ids = ["a", "b", "c"]
    assert failed_message_ids(None, ids) == set()
    assert failed_message_ids({}, ids) == set()
    assert failed_message_ids({"batchItemFailures": []}, ids) == set()
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ids) == {"b"}
    # An identifier that is empty or not in the batch fails the whole batch
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ids) == set(ids)
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, ids) == set(ids)
    assert failed_message_ids({"batchItemFailures": "b"}, ids) == set(ids)
    assert failed_message_ids("nonsense", ids) == set(ids)


def test_an_http_event_is_payload_format_2():
    # Given a request with repeated headers and query keys, a cookie and a JSON body
    event = http_event(
        method="post",
        raw_path="/jobs/bulk",
        route_key="POST /jobs/bulk",
        raw_query_string="a=1&a=2&b=x%20y",
        headers=[
            ("Host", "127.0.0.1:3000"),
            ("X-Many", "1"),
            ("x-many", "2"),
            ("Cookie", "s=1; t=2"),
            ("Content-Type", "application/json"),
        ],
        body=b'{"domain": "acme.com"}',
        claims={"domains": "acme.com", "exp": 1700000000, "roles": ["a", "b"]},
    )

    # Then Lambda's model of the event accepts it
    parsed = APIGatewayProxyEventV2Model.model_validate(event)
    assert parsed.routeKey == "POST /jobs/bulk"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["stage"] == "$default"
    # headers lower-cased and joined, cookies moved out of them
    assert event["headers"]["x-many"] == "1,2"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["s=1", "t=2"]
    # repeated query keys joined with commas, values decoded
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y"
    # a JSON body stays text; claims are strings as the JWT authorizer hands them on
    assert json.loads(event["body"]) == {"domain": "acme.com"}
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["authorizer"]["jwt"]["claims"] == {
        "domains": "acme.com",
        "exp": "1700000000",
        "roles": "[a b]",
    }


def test_a_binary_body_is_base64_encoded_and_absent_parts_are_left_out():
    event = http_event(
        method="POST",
        raw_path="/x",
        route_key="POST /x",
        headers=[("content-type", "application/octet-stream")],
        body=b"\x00\xff",
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xff"
    assert "queryStringParameters" not in event
    assert "pathParameters" not in event
    assert "authorizer" not in event["requestContext"]


def test_the_function_response_becomes_the_http_response():
    status, headers, body = http_response(
        {"statusCode": 202, "headers": {"content-type": "application/json"}, "body": '{"ok": true}', "cookies": ["a=1"]}
    )
    assert (status, body) == (202, b'{"ok": true}')
    assert ("set-cookie", "a=1") in headers

    status, _, body = http_response(
        {"statusCode": 200, "body": base64.b64encode(b"\x01").decode(), "isBase64Encoded": True}
    )
    assert body == b"\x01"

    # Without statusCode, API Gateway takes the whole result as a JSON body
    status, headers, body = http_response({"items": []})
    assert (status, json.loads(body)) == (200, {"items": []})
    assert ("content-type", "application/json") in headers


def test_claims_are_stringified_like_api_gateway_does():
    assert claim_text("a b") == "a b"
    assert claim_text(5) == "5"
    assert claim_text(True) == "true"
    assert claim_text(["x", 1]) == "[x 1]"
