"""template.yaml's hardening: access logs, throttling, reserved concurrency (none
unless asked for) and capped queue consumers, the SES send policy, secrets that
never sit in a function's environment, and what outlives a replacement or the stack."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from cfnlint.api import ManualArgs, lint

from local.http_api import routes
from local.template import TEMPLATE, Stack, default_parameters, load_template

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
    "SuppressionsFunction": "ApiReservedConcurrency",
    "UnsubscribeFunction": "ApiReservedConcurrency",
    "JobActionsFunction": "ApiReservedConcurrency",
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
    heavy = {
        "ThrottlingRateLimit": {"Ref": "BulkThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "BulkThrottlingBurstLimit"},
    }
    # Bulk Send and a bulk cancel (each up to 1,000 writes)
    assert api["RouteSettings"] == {"POST /jobs/bulk": heavy, "POST /bulks/{bulk_id}/cancel": heavy}
    # The routes named are ones the API serves
    template = load_template()
    stack = Stack(template=template, parameters=default_parameters(template))
    served = {route.route_key for route in routes(stack)}
    assert {"POST /jobs/bulk", "POST /bulks/{bulk_id}/cancel"} <= served
    params = template["Parameters"]
    assert int(params["BulkThrottlingRateLimit"]["Default"]) <= int(params["ApiThrottlingRateLimit"]["Default"])


def test_no_function_reserves_concurrency_unless_the_deployer_asks() -> None:
    # Lambda keeps 100 of an account's concurrency unreserved and a new account's
    # quota may be 10 or 50: a default reservation would fail the deploy there
    template = load_template()
    exposed = {**FLOOD_EXPOSED, "PageFunction": "ApiReservedConcurrency"}
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        reserved = resource["Properties"].get("ReservedConcurrentExecutions")
        if logical not in exposed:
            assert reserved is None, logical
            continue
        parameter = exposed[logical]
        condition, when_set, otherwise = reserved["Fn::If"]
        assert when_set == {"Ref": parameter}
        assert otherwise == {"Ref": "AWS::NoValue"}
        # "0" means no reservation (Lambda's 0 would mean: never run), and 0 is the default
        assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, 0]}]}
        assert int(template["Parameters"][parameter]["Default"]) == 0
        assert template["Parameters"][parameter]["MinValue"] == 0
    # Every function behind the HTTP API has the option
    template_stack = Stack(template=template, parameters=default_parameters(template))
    assert {route.function for route in routes(template_stack)} <= set(exposed)


def test_every_queue_consumer_is_capped_at_its_event_source() -> None:
    # A queue's poller scales out over a backlog unless capped; the cap takes no quota.
    # SQS's MaximumConcurrency is 2 at least (Lambda refuses less).
    template = load_template()
    capped = {}
    for logical, resource in template["Resources"].items():
        for name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event["Type"] == "SQS":
                capped[f"{logical}.{name}"] = event["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert capped["SesEventsFunction.SesEvents"] == {"Ref": "SesEventsMaximumConcurrency"}
    assert capped["JobActionsFunction.FinishBulkCancel"] == 2
    assert set(capped) == {
        "SendWorkerFunction.Priority",
        "SendWorkerFunction.Bulk",
        "SesEventsFunction.SesEvents",
        "JobActionsFunction.FinishBulkCancel",
    }
    for cap in capped.values():
        minimum = int(template["Parameters"][cap["Ref"]]["MinValue"]) if isinstance(cap, dict) else cap
        assert minimum >= 2
    assert int(template["Parameters"]["SesEventsMaximumConcurrency"]["Default"]) == 2


# What holds data or keys, and what a replacement or a deleted stack would lose.
KEPT_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SecretsManager::Secret",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
}


def test_what_holds_data_or_keys_outlives_a_replacement_and_the_stack() -> None:
    kept = {k: v for k, v in resources().items() if v["Type"] in KEPT_TYPES}
    assert {"JobsTable", "IdempotencyTable", "BodiesBucket", "CursorSecret", "UnsubscribeSecret"} <= set(kept)
    assert {"AlarmTopicKey", "ApiAccessLogs"} <= set(kept)
    for logical, resource in kept.items():
        assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == ("Retain", "Retain"), logical
    # A retained bucket stays TLS-only
    policy = resources()["BodiesBucketPolicy"]
    assert (policy["DeletionPolicy"], policy["UpdateReplacePolicy"]) == ("Retain", "Retain")
    # Nothing in the template can force a secret's replacement (a new key voids the links sent)
    for logical in ("CursorSecret", "UnsubscribeSecret"):
        assert "Name" not in resources()[logical]["Properties"], logical


def test_queues_say_what_becomes_of_their_messages() -> None:
    queues = {k: v for k, v in resources().items() if v["Type"] == "AWS::SQS::Queue"}
    policies = {k: (v.get("DeletionPolicy"), v.get("UpdateReplacePolicy")) for k, v in queues.items()}
    # SES's events exist nowhere else: a replaced queue is kept, to move them
    assert policies.pop("SesEventsQueue") == ("Delete", "Retain")
    assert policies.pop("SesEventsDeadLetterQueue") == ("Delete", "Retain")
    # The others point at what the jobs table keeps
    assert set(policies.values()) == {("Delete", "Delete")}
    assert len(policies) == 6


def test_cfn_lint_with_its_informational_rules_finds_nothing() -> None:
    # `make template-check` runs the same; I3011 wants the two policies on each stateful resource
    matches = lint(TEMPLATE.read_text(encoding="utf-8"), config=ManualArgs(include_checks=["I"], regions=["us-east-1"]))
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []
    makefile = (TEMPLATE.parent / "Makefile").read_text(encoding="utf-8")
    assert "cfn-lint --include-checks I -- template.yaml" in makefile


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
    # Each function gets the ARNs of the secrets it reads, and may read those secrets only
    readers = {
        "ListJobsFunction": {"CURSOR_SECRET_ID": "CursorSecret", "UNSUBSCRIBE_SECRET_ID": "UnsubscribeSecret"},
        "SuppressionsFunction": {"CURSOR_SECRET_ID": "CursorSecret"},
        "SendWorkerFunction": {"UNSUBSCRIBE_SECRET_ID": "UnsubscribeSecret"},
        "UnsubscribeFunction": {"UNSUBSCRIBE_SECRET_ID": "UnsubscribeSecret"},
    }
    for logical, secrets in readers.items():
        variables = template["Resources"][logical]["Properties"]["Environment"]["Variables"]
        for variable, secret in secrets.items():
            assert variables[variable] == {"Ref": secret}
        reads = [s for s in statements(logical) if any(a.startswith("secretsmanager:") for a in s["Action"])]
        assert reads == [
            {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": {"Ref": secret}}
            for secret in secrets.values()
        ]
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function" and logical not in readers:
            assert not [s for s in statements(logical) if any(a.startswith("secretsmanager:") for a in s["Action"])]


def test_only_the_unsubscribe_and_page_routes_go_without_a_jwt() -> None:
    template = load_template()
    stack = Stack(template=template, parameters=default_parameters(template))
    open_routes = {route.route_key: route for route in routes(stack) if route.authorizer is None}
    assert set(open_routes) == {
        "GET /unsubscribe/{token}",
        "POST /unsubscribe/{token}",
        # The page's static files: it asks for a token and sends it with every API call
        "GET /",
        "GET /static/{file}",
    }
    # The page's function touches nothing of AWS (the basic execution role only)
    assert {open_routes[key].function for key in ("GET /", "GET /static/{file}")} == {"PageFunction"}
    assert statements("PageFunction") == []
    # The function behind them may only add suppression entries, and their audit entries
    [write] = [s for s in statements("UnsubscribeFunction") if any(a.startswith("dynamodb:") for a in s["Action"])]
    assert write["Action"] == ["dynamodb:PutItem", "dynamodb:GetItem"]
    assert write["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["sup#*", "audit#*"]}}


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
    """Objects: put by the writers, read by the readers; a retry copies one
    (reads the old, writes its own). ListBucket, on the bucket alone, only
    where an object is read: it makes a gone object 404 (NoSuchKey), which the
    reader answers as "no longer kept", rather than 403."""
    objects = {"Fn::Sub": "${BodiesBucket.Arn}/*"}
    bucket = {"Fn::GetAtt": ["BodiesBucket", "Arn"]}
    expected = {
        "EnqueueFunction": ["s3:PutObject"],
        "BulkQueueFunction": ["s3:PutObject"],
        "SendWorkerFunction": ["s3:GetObject"],
        "ListJobsFunction": ["s3:GetObject"],
        "SweeperFunction": [],
        "JobActionsFunction": ["s3:GetObject", "s3:PutObject"],
    }
    for logical, actions in expected.items():
        s3 = [s for s in statements(logical) if any(str(a).startswith("s3:") for a in s["Action"])]
        assert all(s["Effect"] == "Allow" for s in s3), logical
        on_objects = [a for s in s3 if s["Resource"] == objects for a in s["Action"]]
        on_bucket = [a for s in s3 if s["Resource"] == bucket for a in s["Action"]]
        assert on_objects == actions, logical
        assert on_bucket == (["s3:ListBucket"] if "s3:GetObject" in actions else []), logical
        assert len(on_objects) + len(on_bucket) == sum(len(s["Action"]) for s in s3), logical  # nothing else
        variables = resources()[logical]["Properties"].get("Environment", {}).get("Variables", {})
        assert (variables.get("BODIES_BUCKET") == {"Ref": "BodiesBucket"}) == bool(actions), logical


def test_cancel_and_retry_may_touch_the_jobs_table_the_bulk_index_and_the_queues_only() -> None:
    resource = resources()["JobActionsFunction"]["Properties"]
    granted = {
        (action, json.dumps(s["Resource"], sort_keys=True))
        for s in statements("JobActionsFunction")
        for action in s["Action"]
    }
    table = json.dumps({"Fn::GetAtt": ["JobsTable", "Arn"]})
    queues = json.dumps(
        [{"Fn::GetAtt": [q, "Arn"]} for q in ("PriorityQueue", "BulkQueue", "ActionsQueue")], sort_keys=True
    )
    assert granted == {
        ("dynamodb:GetItem", table),
        ("dynamodb:UpdateItem", table),
        ("dynamodb:BatchWriteItem", table),
        # A retry with an Idempotency-Key: the marker's read, the Puts of its transaction
        ("dynamodb:BatchGetItem", table),
        ("dynamodb:PutItem", table),
        ("dynamodb:Query", json.dumps({"Fn::Sub": "${JobsTable.Arn}/index/ByBulk"})),
        ("sqs:SendMessage", queues),
        # A retry copies a large body's object (CopyObject: GetObject on the
        # source, PutObject on the copy); ListBucket makes a gone one 404
        ("s3:GetObject", json.dumps({"Fn::Sub": "${BodiesBucket.Arn}/*"})),
        ("s3:PutObject", json.dumps({"Fn::Sub": "${BodiesBucket.Arn}/*"})),
        ("s3:ListBucket", json.dumps({"Fn::GetAtt": ["BodiesBucket", "Arn"]})),
    }
    # Its routes sit behind the JWT authorizer (the API's default); the actions queue feeds it one bulk at a time
    events = resource["Events"]
    assert {e["Properties"].get("Path") for e in events.values() if e["Type"] == "HttpApi"} == {
        "/jobs/{job_id}/cancel",
        "/bulks/{bulk_id}/cancel",
        "/jobs/{job_id}/retry",
    }
    assert all("Auth" not in e["Properties"] for e in events.values())
    [source] = [e["Properties"] for e in events.values() if e["Type"] == "SQS"]
    assert (source["Queue"], source["BatchSize"]) == ({"Fn::GetAtt": ["ActionsQueue", "Arn"]}, 1)
    assert resources()["ActionsQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["ActionsDeadLetterQueue", "Arn"]
    }
