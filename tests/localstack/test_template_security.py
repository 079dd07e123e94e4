"""template.yaml's hardening: access logs, throttling, reserved concurrency, the
SES send policy, and secrets that never sit in a function's environment."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from local.http_api import routes
from local.template import Stack, default_parameters, load_template

LOGGED = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "method": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "latency": "$context.responseLatency",
    "responseLength": "$context.responseLength",
    "authorizerError": "$context.authorizer.error",
}
FLOOD_EXPOSED = {
    "ListJobsFunction": "ApiReservedConcurrency",
    "BulkQueueFunction": "ApiReservedConcurrency",
    "EnqueueFunction": "EnqueueReservedConcurrency",
}


def resources() -> dict[str, Any]:
    found: dict[str, Any] = load_template()["Resources"]
    return found


def statements(logical: str) -> list[dict[str, Any]]:
    # A function without Policies (the page) has the basic execution role only.
    return [s for policy in resources()[logical]["Properties"].get("Policies", []) for s in policy["Statement"]]


def test_the_http_api_writes_an_access_log_without_tokens_queries_or_bodies() -> None:
    api = resources()["HttpApi"]["Properties"]
    settings = api["AccessLogSettings"]
    # Into a log group of the stack, kept for a bounded time
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    log_group = resources()["ApiAccessLogs"]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "AccessLogRetentionDays"}
    # One JSON object per request, with exactly these fields
    assert json.loads(settings["Format"]) == LOGGED
    # and no variable that could carry the Authorization header, a query string, a path or a body
    variables = re.findall(r"\$context\.[A-Za-z.]+", settings["Format"])
    assert not [v for v in variables if re.search(r"header|authorization\b|querystring|path|body|claims", v, re.I)]


def test_every_route_is_throttled_and_bulk_send_harder() -> None:
    api = resources()["HttpApi"]["Properties"]
    assert api["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
    }
    assert api["RouteSettings"] == {
        "POST /jobs/bulk": {
            "ThrottlingRateLimit": {"Ref": "BulkThrottlingRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "BulkThrottlingBurstLimit"},
        }
    }
    # The route named is one the API serves
    template = load_template()
    stack = Stack(template=template, parameters=default_parameters(template))
    assert "POST /jobs/bulk" in {route.route_key for route in routes(stack)}
    params = template["Parameters"]
    assert int(params["BulkThrottlingRateLimit"]["Default"]) <= int(params["ApiThrottlingRateLimit"]["Default"])


def test_the_api_and_enqueue_functions_reserve_concurrency_unless_set_to_0() -> None:
    template = load_template()
    for function, parameter in FLOOD_EXPOSED.items():
        reserved = template["Resources"][function]["Properties"]["ReservedConcurrentExecutions"]
        condition, when_set, otherwise = reserved["Fn::If"]
        assert when_set == {"Ref": parameter}
        assert otherwise == {"Ref": "AWS::NoValue"}
        # "0" means no reservation (Lambda's 0 would mean: never run)
        assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, 0]}]}
        assert int(template["Parameters"][parameter]["Default"]) > 0
        assert template["Parameters"][parameter]["MinValue"] == 0


def test_ses_send_email_is_allowed_from_the_sender_address_only() -> None:
    sends = [s for s in statements("SendWorkerFunction") if "ses:SendEmail" in s["Action"]]
    assert len(sends) == 1
    [send] = sends
    assert send["Action"] == ["ses:SendEmail"]
    assert send["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "SenderAddress"}}}
    # The sender identity and the configuration set; every identity only in the sandbox (recipients)
    sandbox_only = [r for r in send["Resource"] if "Fn::If" in r]
    assert len(sandbox_only) == 1
    condition, arn, otherwise = sandbox_only[0]["Fn::If"]
    assert load_template()["Conditions"][condition] == {"Fn::Equals": [{"Ref": "SesSandbox"}, "true"]}
    assert arn["Fn::Sub"].endswith(":identity/*")
    assert otherwise == {"Ref": "AWS::NoValue"}
    always = sorted(r["Fn::Sub"].rsplit(":", 1)[1] for r in send["Resource"] if "Fn::If" not in r)
    assert always == ["configuration-set/${ConfigurationSet}", "identity/${SenderIdentity}"]
    # No other function may send
    for logical in resources():
        if logical != "SendWorkerFunction" and resources()[logical]["Type"] == "AWS::Serverless::Function":
            assert not [s for s in statements(logical) if any(a.startswith("ses:") for a in s["Action"])]


def test_no_secret_is_resolved_into_an_environment() -> None:
    template = load_template()
    environments = [template["Globals"]["Function"].get("Environment", {})]
    environments += [
        r["Properties"].get("Environment", {})
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    ]
    assert "resolve:" not in yaml.safe_dump(environments)
    # The list function gets the secret's ARN and may read that secret only
    variables = template["Resources"]["ListJobsFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["CURSOR_SECRET_ID"] == {"Ref": "CursorSecret"}
    reads = [s for s in statements("ListJobsFunction") if any(a.startswith("secretsmanager:") for a in s["Action"])]
    assert reads == [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": {"Ref": "CursorSecret"}}
    ]
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function" and logical != "ListJobsFunction":
            assert not [s for s in statements(logical) if any(a.startswith("secretsmanager:") for a in s["Action"])]


def test_the_bodies_bucket_is_private_encrypted_tls_only_and_expires_with_the_jobs() -> None:
    bucket = resources()["BodiesBucket"]
    props = bucket["Properties"]
    assert bucket["Type"] == "AWS::S3::Bucket"
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    [expiry] = props["LifecycleConfiguration"]["Rules"]
    assert expiry["Status"] == "Enabled"
    # Not before the jobs that name its objects (their TTL is RetentionDays)
    assert expiry["ExpirationInDays"] == {"Ref": "RetentionDays"}
    policy = resources()["BodiesBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "BodiesBucket"}
    [deny] = policy["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Action"], deny["Principal"]) == ("Deny", "s3:*", "*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": False}}


def test_only_writers_may_put_bodies_and_only_readers_get_them() -> None:
    objects = {"Fn::Sub": "${BodiesBucket.Arn}/*"}
    expected = {
        "EnqueueFunction": ["s3:PutObject"],
        "BulkQueueFunction": ["s3:PutObject"],
        "SendWorkerFunction": ["s3:GetObject"],
        "ListJobsFunction": ["s3:GetObject"],
        "SweeperFunction": [],
    }
    for logical, actions in expected.items():
        s3 = [s for s in statements(logical) if any(str(a).startswith("s3:") for a in s["Action"])]
        assert [a for s in s3 for a in s["Action"]] == actions, logical
        assert all(s["Resource"] == objects and s["Effect"] == "Allow" for s in s3), logical
        variables = resources()[logical]["Properties"].get("Environment", {}).get("Variables", {})
        assert (variables.get("BODIES_BUCKET") == {"Ref": "BodiesBucket"}) == bool(actions), logical
