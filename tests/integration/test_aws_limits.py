"""AWS's limits that moto does not enforce by itself, as the embedded AWS now
enforces them (local/limits/, applied to every test by tests/conftest.py):
DynamoDB's item size and batch sizes, a failed write changing nothing, SQS's
message and batch sizes, SES v2's tag and header rules and its quota."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.limits import dynamodb as ddb_limits
from local.limits import sesv2 as ses_limits
from local.limits import sqs as sqs_limits

REGION = "us-east-1"
LIMIT = 400 * 1024


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """A table keyed by ``pk``, a queue and a verified SES identity, in moto."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        sesv2 = boto3.client("sesv2", region_name=REGION)
        sesv2.create_email_identity(EmailIdentity="acme.com")
        yield {"dynamodb": dynamodb, "sqs": sqs, "queue": queue, "sesv2": sesv2}


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return error["Code"], error["Message"]


def _get(dynamodb: Any, pk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = dynamodb.get_item(TableName="t", Key={"pk": {"S": pk}}, ConsistentRead=True).get(
        "Item"
    )
    return item


def _padded(pk: str, size: int) -> dict[str, Any]:
    """An item of exactly ``size`` bytes by DynamoDB's rules: ``pk`` and a string ``pad``."""
    fixed = len("pk") + len(pk) + len("pad")
    return {"pk": {"S": pk}, "pad": {"S": "x" * (size - fixed)}}


# ------------------------------------------------------------------ DynamoDB: measuring
@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "abc"}, 3),
        ({"S": "é"}, 2),  # UTF-8 bytes
        ({"N": "123"}, 3),  # 3 significant digits: 2 bytes, + 1
        ({"N": "100"}, 2),  # trailing zeroes trimmed: 1 digit
        ({"N": "0.0012"}, 2),  # leading zeroes trimmed: 2 digits
        ({"N": "-12345678901234567890"}, 11),
        ({"B": "AAEC"}, 3),  # base64 of 3 raw bytes
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"L": []}, 3),
        ({"L": [{"N": "1"}, {"S": "ab"}]}, 3 + (2 + 1) + (2 + 1)),
        ({"M": {"ab": {"S": "cd"}}}, 3 + 2 + 2 + 1),
        ({"SS": ["a", "bc"]}, 3),
        ({"NS": ["1", "22"]}, 4),
    ],
)
def test_values_are_measured_by_dynamodbs_published_rules(value, size):
    assert ddb_limits.value_size(value) == size


def test_an_item_is_its_names_and_values():
    assert ddb_limits.item_size({"pk": {"S": "a"}, "attempts": {"N": "12"}}) == 2 + 1 + 8 + 2


def test_an_item_of_exactly_400_kb_is_written_and_one_byte_more_is_refused(aws):
    dynamodb = aws["dynamodb"]
    dynamodb.put_item(TableName="t", Item=_padded("full", LIMIT))
    with pytest.raises(ClientError) as exc:
        dynamodb.put_item(TableName="t", Item=_padded("over", LIMIT + 1))
    assert _error(exc) == ("ValidationException", "Item size has exceeded the maximum allowed size")
    assert _get(dynamodb, "full") is not None
    assert _get(dynamodb, "over") is None


def test_the_size_is_dynamodbs_not_the_characters_of_the_request(aws):
    dynamodb = aws["dynamodb"]
    # 30-digit numbers take 16 bytes each in DynamoDB, 30 characters in the request:
    # 14,000 of them are 224,000 bytes, well under the limit (moto refused them)
    numbers = {"NS": [str(10**29 + n) for n in range(14_000)]}
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "numbers"}, "n": numbers})
    # A list's elements cost a byte each: 140,000 one-digit numbers are 3 bytes
    # each in a list, 420,003 bytes in all (moto counted 140,000)
    with pytest.raises(ClientError) as exc:
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "list"}, "l": {"L": [{"N": "1"}] * 140_000}})
    assert _error(exc)[0] == "ValidationException"


# ------------------------------------------------------------------ DynamoDB: a failed write changes nothing
def test_an_update_past_400_kb_is_refused_and_changes_nothing(aws):
    # The case, on a synthetic item: a job near the limit whose outcome
    # write (status, and one more attempt_log entry) would take it past 400 KB
    dynamodb = aws["dynamodb"]
    entry = {"M": {"at": {"S": "2026-12-06T10:00:00.000Z"}, "outcome": {"S": "retry"}, "error": {"S": "e" * 150}}}
    log = [entry] * 2_000  # 200 bytes each: 400,032 bytes in all
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "job"}, "status": {"S": "sending"}, "attempt_log": {"L": log}})
    before = _get(dynamodb, "job")

    with pytest.raises(ClientError) as exc:
        dynamodb.update_item(
            TableName="t",
            Key={"pk": {"S": "job"}},
            UpdateExpression="SET #s = :sent, attempt_log = list_append(attempt_log, :entries)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":sent": {"S": "sent"}, ":entries": {"L": [entry] * 60}},
        )

    assert _error(exc) == ("ValidationException", "Item size to update has exceeded the maximum allowed size")
    assert _get(dynamodb, "job") == before  # still "sending": moto kept the new status


def test_an_update_that_fails_half_way_changes_nothing(aws):
    # ADD of a number to a string fails after the SET before it (moto kept the SET)
    dynamodb = aws["dynamodb"]
    dynamodb.put_item(TableName="t", Item={"pk": {"S": "a"}, "status": {"S": "sending"}, "n": {"S": "text"}})
    with pytest.raises(ClientError) as exc:
        dynamodb.update_item(
            TableName="t",
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET #s = :sent ADD n :one",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":sent": {"S": "sent"}, ":one": {"N": "1"}},
        )
    assert _error(exc)[0] == "ValidationException"
    assert _get(dynamodb, "a") == {"pk": {"S": "a"}, "status": {"S": "sending"}, "n": {"S": "text"}}


# ------------------------------------------------------------------ DynamoDB: batches and transactions
def test_a_batch_write_of_26_requests_is_refused_whole(aws):
    dynamodb = aws["dynamodb"]
    puts = [{"PutRequest": {"Item": {"pk": {"S": f"b{n}"}}}} for n in range(26)]
    with pytest.raises(ClientError) as exc:
        dynamodb.batch_write_item(RequestItems={"t": puts})
    assert _error(exc)[0] == "ValidationException"
    assert "less than or equal to 25" in _error(exc)[1]
    assert dynamodb.scan(TableName="t")["Count"] == 0
    dynamodb.batch_write_item(RequestItems={"t": puts[:25]})
    assert dynamodb.scan(TableName="t")["Count"] == 25


def test_a_batch_write_with_one_item_over_400_kb_writes_none_of_it(aws):
    dynamodb = aws["dynamodb"]
    requests = [
        {"PutRequest": {"Item": {"pk": {"S": "small"}}}},
        {"PutRequest": {"Item": _padded("large", LIMIT + 1)}},
    ]
    with pytest.raises(ClientError) as exc:
        dynamodb.batch_write_item(RequestItems={"t": requests})
    assert _error(exc) == ("ValidationException", "Item size has exceeded the maximum allowed size")
    assert _get(dynamodb, "small") is None


def test_a_batch_write_that_puts_and_deletes_one_item_is_refused(aws):
    dynamodb = aws["dynamodb"]
    requests = [{"PutRequest": {"Item": {"pk": {"S": "d"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "d"}}}}]
    with pytest.raises(ClientError) as exc:
        dynamodb.batch_write_item(RequestItems={"t": requests})
    assert _error(exc) == ("ValidationException", "Provided list of item keys contains duplicates")
    assert _get(dynamodb, "d") is None


def test_a_transaction_that_grows_an_item_past_400_kb_is_canceled_whole(aws):
    dynamodb = aws["dynamodb"]
    dynamodb.put_item(TableName="t", Item=_padded("big", LIMIT - 10))
    items: list[Any] = [
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "other"}}}},
        {
            "Update": {
                "TableName": "t",
                "Key": {"pk": {"S": "big"}},
                "UpdateExpression": "SET more = :more",
                "ExpressionAttributeValues": {":more": {"S": "y" * 100}},
            }
        },
    ]
    with pytest.raises(ClientError) as exc:
        dynamodb.transact_write_items(TransactItems=items)
    assert _error(exc)[0] == "TransactionCanceledException"
    reasons = exc.value.response["CancellationReasons"]
    assert [reason["Code"] for reason in reasons] == ["None", "ValidationError"]
    assert reasons[1]["Message"] == "Item size to update has exceeded the maximum allowed size"
    assert _get(dynamodb, "other") is None
    assert "more" not in (_get(dynamodb, "big") or {})


def test_a_transaction_over_4_mb_is_refused(aws):
    dynamodb = aws["dynamodb"]
    items: list[Any] = [{"Put": {"TableName": "t", "Item": _padded(f"p{n}", LIMIT)}} for n in range(11)]
    with pytest.raises(ClientError) as exc:
        dynamodb.transact_write_items(TransactItems=items)
    assert _error(exc)[0] == "ValidationException"
    assert [_get(dynamodb, f"p{n}") for n in range(11)] == [None] * 11
    dynamodb.transact_write_items(TransactItems=items[:10])  # 4,096,000 bytes: within 4 MB
    assert all(_get(dynamodb, f"p{n}") for n in range(10))


def test_a_transaction_reads_up_to_100_items(aws):
    dynamodb = aws["dynamodb"]
    gets: list[Any] = [{"Get": {"TableName": "t", "Key": {"pk": {"S": f"g{n}"}}}} for n in range(101)]
    assert len(dynamodb.transact_get_items(TransactItems=gets[:100])["Responses"]) == 100
    with pytest.raises(ClientError) as exc:
        dynamodb.transact_get_items(TransactItems=gets)
    assert _error(exc)[0] == "ValidationException"


def test_an_expression_over_4_kb_is_refused(aws):
    dynamodb = aws["dynamodb"]
    sets = ", ".join(f"a{n}{'x' * 200} = :v" for n in range(20))
    with pytest.raises(ClientError) as exc:
        dynamodb.update_item(
            TableName="t",
            Key={"pk": {"S": "e"}},
            UpdateExpression=f"SET {sets}",
            ExpressionAttributeValues={":v": {"S": "x"}},
        )
    assert _error(exc)[0] == "ValidationException"
    assert "Expression size has exceeded the maximum allowed size" in _error(exc)[1]
    assert _get(dynamodb, "e") is None


# ------------------------------------------------------------------ SQS
def test_a_message_is_its_body_and_attributes_in_bytes(aws):
    sqs, queue = aws["sqs"], aws["queue"]
    attribute = {"DataType": "String", "StringValue": "v" * 10}
    attribute_bytes = len("a") + len("String") + 10
    body = "é" * ((sqs_limits.MAX_MESSAGE_BYTES - attribute_bytes) // 2)  # 2 bytes each in UTF-8
    sqs.send_message(QueueUrl=queue, MessageBody=body, MessageAttributes={"a": attribute})
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=queue, MessageBody=body + "x" * 2, MessageAttributes={"a": attribute})
    assert _error(exc) == (
        "InvalidParameterValue",
        "One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.",
    )


def test_a_batch_over_the_size_limit_sends_nothing(aws):
    sqs, queue = aws["sqs"], aws["queue"]
    entries = [{"Id": str(n), "MessageBody": "m" * 100_000} for n in range(3)]
    with pytest.raises(ClientError) as exc:
        sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    assert _error(exc)[0] in ("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong")
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"


@pytest.mark.parametrize("action", ["delete_message_batch", "change_message_visibility_batch"])
def test_batches_of_more_than_ten_entries_are_refused(aws, action):
    sqs, queue = aws["sqs"], aws["queue"]
    entries = [{"Id": str(n), "ReceiptHandle": f"r{n}", "VisibilityTimeout": 0} for n in range(11)]
    if action == "delete_message_batch":
        entries = [{"Id": e["Id"], "ReceiptHandle": e["ReceiptHandle"]} for e in entries]
    with pytest.raises(ClientError) as exc:
        getattr(sqs, action)(QueueUrl=queue, Entries=entries)
    assert "TooManyEntriesInBatchRequest" in _error(exc)[0]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"MessageAttributes": {f"a{n}": {"DataType": "String", "StringValue": "v"} for n in range(11)}}, None),
        ({"MessageBody": "bell \x07"}, "InvalidMessageContents"),
        ({"MessageGroupId": "g" * 129}, None),
        ({"MessageGroupId": "two words"}, None),
    ],
    ids=["11 attributes", "a control character", "a group id of 129", "a space in a group id"],
)
def test_messages_sqs_refuses(aws, kwargs, code):
    sqs, queue = aws["sqs"], aws["queue"]
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=queue, **{"MessageBody": "m", **kwargs})
    assert _error(exc)[0] == (code or "InvalidParameterValue")


# ------------------------------------------------------------------ SES v2
def _send(sesv2: Any, *, tags: list[dict[str, str]] | None = None, headers: list[dict[str, str]] | None = None) -> str:
    simple: dict[str, Any] = {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}
    if headers is not None:
        simple["Headers"] = headers
    response = sesv2.send_email(
        FromEmailAddress="noreply@acme.com",
        Destination={"ToAddresses": ["someone@example.org"]},
        Content={"Simple": simple},
        EmailTags=tags or [],
    )
    return str(response["MessageId"])


@pytest.mark.parametrize(
    "tag",
    [
        {"Name": "domain", "Value": "acme.com"},
        {"Name": "who", "Value": "a@b"},
        {"Name": "ses:feedback", "Value": "x"},
        {"Name": "n", "Value": "v" * 257},
        {"Name": "", "Value": "v"},
    ],
    ids=["a dot", "an at-sign", "a colon in the name", "257 characters", "no name"],
)
def test_ses_refuses_tags_outside_its_documented_rule(aws, tag):
    with pytest.raises(ClientError) as exc:
        _send(aws["sesv2"], tags=[tag])
    assert _error(exc)[0] == "BadRequestException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_ses_takes_tags_of_letters_digits_underscores_and_dashes(aws):
    tags = [{"Name": "domain", "Value": "mail_acme-co_com"}, {"Name": "n", "Value": "v" * 256}]
    assert _send(aws["sesv2"], tags=tags)


@pytest.mark.parametrize(
    "headers",
    [
        [{"Name": "From", "Value": "someone@else.com"}],
        [{"Name": "message-id", "Value": "<x@y>"}],
        [{"Name": f"X-H{n}", "Value": "v"} for n in range(16)],
        [{"Name": "X-Café", "Value": "v"}],
        [{"Name": "X-A:B", "Value": "v"}],
        [{"Name": "X-Note", "Value": "déjà"}],
        [{"Name": "X-Long", "Value": "v" * 991}],
        [{"Name": "List-Unsubscribe", "Value": "<a>"}, {"Name": "List-Unsubscribe", "Value": "<b>"}],
    ],
    ids=[
        "set by SES",
        "set by SES, any case",
        "16 headers",
        "non-ASCII name",
        "colon in the name",
        "non-ASCII value",
        "over 996 together",
        "a once-only header twice",
    ],
)
def test_ses_refuses_custom_headers_outside_its_rules(aws, headers):
    with pytest.raises(ClientError) as exc:
        _send(aws["sesv2"], headers=headers)
    assert _error(exc)[0] == "BadRequestException"


def test_ses_takes_the_one_click_unsubscribe_headers(aws):
    headers = [
        {"Name": "List-Unsubscribe", "Value": "<https://example.org/unsubscribe/t>"},
        {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
    ]
    assert _send(aws["sesv2"], headers=headers + [{"Name": f"X-H{n}", "Value": "v"} for n in range(13)])


def test_a_message_over_40_mb_is_refused_as_ses_measures_it():
    # Measured after base64 encoding: 31.5 MB of text takes 42 MB encoded
    simple = {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t" * 31_500_000}}}
    with pytest.raises(ses_limits.InvalidSend, match="Message length is more than 41943040 bytes"):
        ses_limits.check_send({"Content": {"Simple": simple}})
    simple["Body"]["Text"]["Data"] = "t" * 31_000_000  # 41,333,336 bytes encoded
    ses_limits.check_send({"Content": {"Simple": simple}})


def test_get_account_reports_the_quota_of_the_embedded_ses(aws):
    sesv2 = aws["sesv2"]
    _send(sesv2)
    _send(sesv2)

    quota = sesv2.get_account()["SendQuota"]

    assert quota == {"Max24HourSend": -1.0, "MaxSendRate": ses_limits.RATE_WITHOUT_LIMIT, "SentLast24Hours": 2.0}
    ses_limits.set_send_rate("123456789012", REGION, 20.0)
    assert sesv2.get_account()["SendQuota"]["MaxSendRate"] == 20.0
    v1 = boto3.client("ses", region_name=REGION).get_send_quota()
    assert (v1["MaxSendRate"], v1["Max24HourSend"], v1["SentLast24Hours"]) == (20.0, -1.0, 2.0)


def test_sent_last_24_hours_forgets_older_sends():
    sent = ses_limits._Sent()
    sent.add(3, now=1_000.0)
    sent.add(1, now=1_000.0 + ses_limits.DAY_SECONDS)
    assert sent.last_day(now=1_000.0 + ses_limits.DAY_SECONDS) == 1
    assert json.loads(json.dumps(ses_limits.send_quota(object())))["SentLast24Hours"] == 0.0
