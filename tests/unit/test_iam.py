"""local/iam.py: IAM's evaluation of a role's statements, and the resources AWS
authorises each call against (the Service Authorization Reference of each
service), without any AWS."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from local import iam

ACCOUNT = "123456789012"
TABLE = "emailops-JobsTable"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{TABLE}"
FACTS = iam.Facts(
    region="us-east-1",
    account=ACCOUNT,
    table_keys={TABLE: "pk", "other": "id"},
    index_keys={f"{TABLE}/ByDomain": "dk", f"{TABLE}/BySuppression": "spk"},
    secrets={
        "emailops-CursorSecret": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:emailops-CursorSecret-AbCdEf"
    },
    ses_identities=("example.com",),
    ses_sandbox=False,
)


def statement(**raw: Any) -> iam.Statement:
    return iam.Statement.parse({"Effect": "Allow", **raw}, source="test #1")


def role(*statements: iam.Statement) -> iam.Role:
    return iam.Role("TestFunction", "emailops-TestFunctionRole", statements)


def allowed(r: iam.Role, action: str, resource: str, **context: tuple[str, ...]) -> bool:
    return r.decide(iam.Request(action, resource, context)).allowed


# ------------------------------------------------------------------ evaluation
def test_action_and_resource_wildcards_match_as_iam_matches_them() -> None:
    r = role(statement(Action="dynamodb:Get*", Resource=f"{TABLE_ARN}/index/*"))
    assert allowed(r, "dynamodb:GetItem", f"{TABLE_ARN}/index/ByDomain")
    assert allowed(r, "DynamoDB:getitem", f"{TABLE_ARN}/index/ByDomain")  # actions are case-insensitive
    assert not allowed(r, "dynamodb:PutItem", f"{TABLE_ARN}/index/ByDomain")
    assert not allowed(r, "dynamodb:GetItem", TABLE_ARN)  # the table is not one of its indexes
    assert not allowed(r, "dynamodb:GetItem", f"{TABLE_ARN}/index/ByDomain".upper())  # ARNs are not


def test_a_wildcard_stays_in_its_arn_segment_unless_it_ends_it() -> None:
    inside = role(statement(Action="sqs:SendMessage", Resource=f"arn:aws:sqs:*:{ACCOUNT}:emailops-*Queue"))
    assert allowed(inside, "sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:emailops-BulkQueue")
    assert not allowed(inside, "sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:emailops-Bulk:Queue")
    assert allowed(role(statement(Action="*", Resource="*")), "s3:GetObject", "arn:aws:s3:::b/k")


def test_nothing_is_allowed_unless_a_statement_allows_it_and_a_deny_always_wins() -> None:
    assert not allowed(role(), "dynamodb:GetItem", TABLE_ARN)
    both = role(
        statement(Action="dynamodb:*", Resource="*"),
        iam.Statement.parse({"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": TABLE_ARN}, "deny #1"),
    )
    assert allowed(both, "dynamodb:GetItem", TABLE_ARN)
    decision = both.decide(iam.Request("dynamodb:DeleteItem", TABLE_ARN))
    assert not decision.allowed and decision.statement is not None and decision.statement.effect == "Deny"


def test_not_action_and_not_resource_allow_everything_else() -> None:
    r = role(iam.Statement.parse({"Effect": "Allow", "NotAction": "s3:*", "NotResource": TABLE_ARN}, "x"))
    assert allowed(r, "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q")
    assert not allowed(r, "s3:GetObject", "arn:aws:s3:::b/k")
    assert not allowed(r, "dynamodb:GetItem", TABLE_ARN)


def test_string_equals_needs_the_key_and_one_of_the_values() -> None:
    r = role(
        statement(
            Action="ses:SendEmail",
            Resource="*",
            Condition={"StringEquals": {"ses:FromAddress": ["a@x.com", "b@x.com"]}},
        )
    )
    assert allowed(r, "ses:SendEmail", "*", **{"ses:fromaddress": ("b@x.com",)})
    assert not allowed(r, "ses:SendEmail", "*", **{"ses:fromaddress": ("c@x.com",)})
    assert not allowed(r, "ses:SendEmail", "*")  # the key absent: not equal


def test_for_all_values_holds_for_every_value_and_for_none() -> None:
    r = role(
        statement(
            Action="dynamodb:GetItem",
            Resource=TABLE_ARN,
            Condition={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["sup#*"]}},
        )
    )
    assert allowed(r, "dynamodb:GetItem", TABLE_ARN, **{"dynamodb:leadingkeys": ("sup#a", "sup#b")})
    assert not allowed(r, "dynamodb:GetItem", TABLE_ARN, **{"dynamodb:leadingkeys": ("sup#a", "job#1")})
    # IAM: ForAllValues with no value at all is true (why such a condition needs the key to be present)
    assert allowed(r, "dynamodb:GetItem", TABLE_ARN)


def test_for_any_value_if_exists_null_and_negated_operators() -> None:
    def holds(operator: str, values: list[str], present: tuple[str, ...] | None) -> bool:
        condition = iam.Condition(operator, "ses:Recipients", tuple(values))
        return condition.holds({} if present is None else {"ses:recipients": present})

    assert holds("ForAnyValue:StringLike", ["*@x.com"], ("a@y.com", "b@x.com"))
    assert not holds("ForAnyValue:StringLike", ["*@x.com"], None)
    assert holds("StringEqualsIfExists", ["a"], None)
    assert not holds("StringEqualsIfExists", ["a"], ("b",))
    assert holds("Null", ["true"], None) and not holds("Null", ["true"], ("a",))
    assert holds("StringNotEquals", ["a"], ("b",)) and holds("StringNotEquals", ["a"], None)
    assert not holds("StringNotLike", ["a*"], ("abc",))


def test_a_condition_that_cannot_be_evaluated_locally_is_refused_when_the_role_is_loaded() -> None:
    with pytest.raises(iam.PolicyError, match="aws:SourceArn"):
        statement(Action="*", Resource="*", Condition={"ArnEquals": {"aws:SourceArn": "arn:aws:events:::x"}})
    with pytest.raises(iam.PolicyError, match="DateGreaterThan"):
        statement(Action="*", Resource="*", Condition={"DateGreaterThan": {"ses:FromAddress": "x"}})
    with pytest.raises(iam.PolicyError, match="not resolved"):
        statement(Action="*", Resource="arn:aws:s3:::${BodiesBucket}/*")


# -------------------------------------------------------------------- requests
def requests(service: str, operation: str, facts: iam.Facts = FACTS, **params: Any) -> list[tuple[str, str]]:
    return [(r.action, r.resource) for r in iam.requests_for(service, operation, params, facts)]


def test_a_query_on_an_index_is_authorised_on_the_index_with_its_partition_key() -> None:
    [request] = iam.requests_for(
        "dynamodb",
        "Query",
        {
            "TableName": TABLE,
            "IndexName": "ByDomain",
            "KeyConditionExpression": "#d = :d AND pk < :c",
            "ExpressionAttributeNames": {"#d": "dk"},
            "ExpressionAttributeValues": {":d": {"S": "acme.com#3"}, ":c": {"S": "x"}},
        },
        FACTS,
    )
    assert (request.action, request.resource) == ("dynamodb:Query", f"{TABLE_ARN}/index/ByDomain")
    assert request.context["dynamodb:leadingkeys"] == ("acme.com#3",)
    assert requests("dynamodb", "Query", TableName=TABLE, KeyConditionExpression="pk = :p") == [
        ("dynamodb:Query", TABLE_ARN)
    ]


def test_item_calls_carry_their_partition_key_and_a_table_arn_is_taken_as_given() -> None:
    [put] = iam.requests_for("dynamodb", "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": "sup#a"}}}, FACTS)
    assert put.context["dynamodb:leadingkeys"] == ("sup#a",)
    [get] = iam.requests_for("dynamodb", "GetItem", {"TableName": TABLE_ARN, "Key": {"pk": {"S": "job#1"}}}, FACTS)
    assert (get.resource, get.context["dynamodb:leadingkeys"]) == (TABLE_ARN, ("job#1",))


def test_batches_are_authorised_per_table_and_a_transaction_per_item_as_its_own_action() -> None:
    batch = iam.requests_for(
        "dynamodb",
        "BatchGetItem",
        {
            "RequestItems": {
                TABLE: {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}]},
                "other": {"Keys": [{"id": {"S": "c"}}]},
            }
        },
        FACTS,
    )
    assert [(r.resource.rpartition("/")[2], r.context["dynamodb:leadingkeys"]) for r in batch] == [
        (TABLE, ("a", "b")),
        ("other", ("c",)),
    ]
    items = [
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "idem#k"}}}},
        {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "job#1"}}}},
        {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "job#2"}}}},
        {"Delete": {"TableName": "other", "Key": {"id": {"S": "x"}}}},
    ]
    assert requests("dynamodb", "TransactWriteItems", TransactItems=items) == [
        ("dynamodb:PutItem", TABLE_ARN),
        ("dynamodb:UpdateItem", TABLE_ARN),
        ("dynamodb:ConditionCheckItem", TABLE_ARN),
        ("dynamodb:DeleteItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/other"),
    ]


def test_queue_object_and_secret_calls_are_authorised_on_their_arns() -> None:
    url = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/emailops-BulkQueue"
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:emailops-BulkQueue"
    assert requests("sqs", "SendMessageBatch", QueueUrl=url, Entries=[]) == [("sqs:SendMessage", arn)]
    assert requests("sqs", "ChangeMessageVisibility", QueueUrl=url) == [("sqs:ChangeMessageVisibility", arn)]
    assert requests("s3", "HeadObject", Bucket="bodies", Key="b/1") == [("s3:GetObject", "arn:aws:s3:::bodies/b/1")]
    copy = {"Bucket": "bodies", "Key": "a/2"}
    read_then_written = [("s3:GetObject", "arn:aws:s3:::bodies/a/1"), ("s3:PutObject", "arn:aws:s3:::bodies/a/2")]
    assert requests("s3", "CopyObject", CopySource={"Bucket": "bodies", "Key": "a/1"}, **copy) == read_then_written
    assert requests("s3", "CopyObject", CopySource="bodies/a/1", **copy) == read_then_written
    secret = FACTS.secrets["emailops-CursorSecret"]
    assert requests("secretsmanager", "GetSecretValue", SecretId="emailops-CursorSecret") == [
        ("secretsmanager:GetSecretValue", secret)
    ]
    assert requests("secretsmanager", "GetSecretValue", SecretId=secret) == [("secretsmanager:GetSecretValue", secret)]


def test_send_email_is_authorised_on_the_identity_and_the_configuration_set_with_the_from_address() -> None:
    params = {
        "FromEmailAddress": "Privas <no-reply@example.com>",
        "Destination": {"ToAddresses": ["visitor@example.org"]},
        "ConfigurationSetName": "email-operations",
        "Content": {"Simple": {}},
        "TenantName": "acme_com",
    }
    sent = iam.requests_for("sesv2", "SendEmail", params, FACTS)
    assert [r.resource for r in sent] == [
        f"arn:aws:ses:us-east-1:{ACCOUNT}:identity/example.com",
        f"arn:aws:ses:us-east-1:{ACCOUNT}:configuration-set/email-operations",
    ]
    assert sent[0].context["ses:fromaddress"] == ("no-reply@example.com",)
    assert sent[0].context["ses:recipients"] == ("visitor@example.org",)
    assert sent[0].context["ses:tenantname"] == ("acme_com",)
    # In the sandbox, each recipient's identity too
    sandboxed = iam.Facts(**{**FACTS.__dict__, "ses_sandbox": True})
    assert [r.resource for r in iam.requests_for("sesv2", "SendEmail", params, sandboxed)][-1] == (
        f"arn:aws:ses:us-east-1:{ACCOUNT}:identity/example.org"
    )


def test_put_events_is_authorised_on_each_entrys_bus() -> None:
    sent = iam.requests_for("events", "PutEvents", {"Entries": [{"Source": "emailops", "DetailType": "x"}]}, FACTS)
    assert [(r.resource, r.context["events:source"]) for r in sent] == [
        (f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default", ("emailops",))
    ]


def test_a_call_without_a_rule_is_not_guessed() -> None:
    with pytest.raises(iam.NoRule):
        iam.requests_for("dynamodb", "ExecuteStatement", {"Statement": "SELECT * FROM t"}, FACTS)
    with pytest.raises(iam.NoRule):
        iam.requests_for("kinesis", "PutRecord", {}, FACTS)


# ---------------------------------------------------------------- the denial
@pytest.fixture
def checked() -> Any:
    """A botocore session with the check on it, enforcing one role, its calls stubbed."""
    session = botocore.session.get_session()
    enforcer = iam.Enforcer()
    enforcer.install(session)
    recorder = iam.Recorder(iam.Path("/nonexistent/calls.jsonl"), "digest")
    the_role = role(statement(Action="dynamodb:GetItem", Resource=TABLE_ARN))
    enforcer.activate(iam.Permissions(roles={"TestFunction": the_role}, facts=FACTS, recorder=recorder))
    return session, enforcer, recorder


def test_a_call_outside_the_role_fails_as_aws_answers_it_and_is_recorded(checked: Any) -> None:
    session, _, recorder = checked
    client = session.create_client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("get_item", {})
        stub.add_response("query", {})  # what AWS would answer, had the call been allowed
        with iam.running_as("TestFunction"):
            client.get_item(TableName=TABLE, Key={"pk": {"S": "job#1"}})  # allowed: the stub answers
            with pytest.raises(ClientError) as raised:
                client.query(TableName=TABLE, IndexName="ByDomain", KeyConditionExpression="dk = :d",
                             ExpressionAttributeValues={":d": {"S": "acme.com#1"}})  # fmt: skip
    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/emailops-TestFunctionRole/TestFunction is not authorized to"
        f" perform: dynamodb:Query on resource: {TABLE_ARN}/index/ByDomain because no identity-based policy allows"
        " the dynamodb:Query action"
    )
    assert [(c.action, c.allowed) for c in recorder.denied] == [("dynamodb:Query", False)]


def test_s3_and_sqs_answer_access_denied_with_403_and_the_modelled_class(checked: Any) -> None:
    session, _, _ = checked
    s3 = session.create_client("s3", region_name="us-east-1")
    sqs = session.create_client("sqs", region_name="us-east-1")
    with iam.running_as("TestFunction"):
        with pytest.raises(s3.exceptions.AccessDenied) as denied:  # S3's own class for the code
            s3.get_object(Bucket="bodies", Key="b/1")
        with pytest.raises(ClientError) as queued:
            sqs.send_message(QueueUrl=f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q", MessageBody="{}")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "s3:GetObject on resource: arn:aws:s3:::bodies/b/1" in str(denied.value)
    assert (queued.value.response["Error"]["Code"], queued.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "AccessDenied",
        403,
    )
    assert "perform: sqs:sendmessage on resource" in str(queued.value)  # SQS's own spelling


def test_a_call_no_rule_maps_is_denied_and_calls_outside_a_function_are_not_checked(checked: Any) -> None:
    session, enforcer, recorder = checked
    client = session.create_client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("describe_limits", {})
        stub.add_response("describe_limits", {})
        client.describe_limits()  # no function running: the test's own call
        with iam.running_as("TestFunction"), pytest.raises(ClientError, match="dynamodb:DescribeLimits"):
            client.describe_limits()
    assert [(c.action, c.resource) for c in recorder.denied] == [("dynamodb:DescribeLimits", "*")]
    # With no roles loaded, a function's call is denied too (and noted)
    enforcer.activate(None)
    with iam.running_as("TestFunction"), pytest.raises(ClientError):
        client.get_item(TableName=TABLE, Key={"pk": {"S": "job#1"}})
    assert enforcer.unconfigured == ["TestFunction: dynamodb GetItem"]


def test_a_role_survives_json_as_the_built_handlers_get_it() -> None:
    original = role(
        statement(
            Action=["dynamodb:GetItem"],
            Resource=TABLE_ARN,
            Condition={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["sup#*"]}},
        )
    )
    assert iam.Role.from_json(original.to_json()) == original
    assert iam.Facts.from_json(FACTS.to_json()) == FACTS
