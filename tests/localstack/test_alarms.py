"""template.yaml's alarms, their topic and dashboard, read as data: every
dead-letter queue and every function has its alarm, every alarm its runbook
section and its place on the dashboard, and every metric of ours that an alarm
watches is one the code publishes."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from local.template import ROOT, load_template

RUNBOOK = ROOT / "docs" / "runbook.md"
CODE_ROOTS = (ROOT / "common", ROOT / "functions")
ALARM = "AWS::CloudWatch::Alarm"


def resources() -> dict[str, Any]:
    found: dict[str, Any] = load_template()["Resources"]
    return found


def alarms() -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in resources().items() if v["Type"] == ALARM}


def watched(props: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every metric an alarm reads: its own, or each of its metric math's."""
    if "MetricName" in props:
        yield {
            "Namespace": props["Namespace"],
            "MetricName": props["MetricName"],
            "Dimensions": props.get("Dimensions"),
        }
    for query in props.get("Metrics", []):
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            yield {
                "Namespace": metric["Namespace"],
                "MetricName": metric["MetricName"],
                "Dimensions": metric.get("Dimensions"),
            }


def dimension(metric: dict[str, Any], name: str) -> Any:
    values = [d["Value"] for d in metric.get("Dimensions") or [] if d["Name"] == name]
    assert len(values) == 1, f"{metric['MetricName']}: one {name} dimension expected"
    return values[0]


def dead_letter_queues() -> set[str]:
    """Every queue a redrive policy names, and every queue named as one."""
    queues = {k: v for k, v in resources().items() if v["Type"] == "AWS::SQS::Queue"}
    named = {k for k in queues if re.search(r"dead.?letter|dlq", k, re.IGNORECASE)}
    targets = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in queues.values()
        if "RedrivePolicy" in q.get("Properties", {})
    }
    return named | targets


def globals_env() -> dict[str, Any]:
    variables: dict[str, Any] = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    return variables


# ------------------------------------------------------------ what the code emits
def emitted_metric_names() -> set[str]:
    """Names passed to ``add_metric(name=...)`` in common/ and functions/: a
    literal, a module-level string constant (such as ``SERVER_ERRORS_METRIC``),
    or a module-level dict (such as ``_METRIC_FOR``) indexed there."""
    names: set[str] = set()
    for root in CODE_ROOTS:
        for path in root.rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            known = module_level_names(tree)
            for call in ast.walk(tree):
                if isinstance(call, ast.Call) and getattr(call.func, "attr", None) == "add_metric":
                    for keyword in call.keywords:
                        if keyword.arg == "name":
                            names |= names_of(keyword.value, known)
    return names


def module_level_names(tree: ast.Module) -> dict[str, set[str]]:
    """What each module-level name holds: a string constant, or a dict's string values."""
    known: dict[str, set[str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if isinstance(node.value, ast.Dict):
            held = {str(v.value) for v in node.value.values if isinstance(v, ast.Constant)}
        elif isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            held = {node.value.value}
        else:
            continue
        known |= {target.id: held for target in targets if isinstance(target, ast.Name)}
    return known


def names_of(value: ast.expr, known: dict[str, set[str]]) -> set[str]:
    if isinstance(value, ast.Constant):
        return {str(value.value)}
    if isinstance(value, ast.Name):  # a constant
        return known.get(value.id, set())
    if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name):  # a table indexed
        return known.get(value.value.id, set())
    return set()


def test_the_code_scan_finds_the_metrics_the_worker_and_sweeper_publish() -> None:
    # The scan itself: literal names and the worker's outcome table
    names = emitted_metric_names()
    assert {"EmailsSent", "SendFailures", "SendRetries", "JobsSwept", "EmailsQueued"} <= names
    # and a constant's: the API functions' own 5xx answers
    assert "ApiServerErrors" in names


# ------------------------------------------------------------ the alarms
def test_every_dead_letter_queue_has_a_depth_alarm() -> None:
    dlqs = dead_letter_queues()
    assert {"PriorityDeadLetterQueue", "BulkDeadLetterQueue"} <= dlqs
    covered = {
        dimension(metric, "QueueName")["Fn::GetAtt"][0]
        for props in alarms().values()
        for metric in watched(props)
        if metric["Namespace"] == "AWS/SQS"
        and metric["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and props.get("Threshold") == 0
        and props.get("ComparisonOperator") == "GreaterThanThreshold"
    }
    assert dlqs - covered == set(), "a dead-letter queue without a depth > 0 alarm"


def test_every_function_has_an_errors_alarm() -> None:
    functions = {k for k, v in resources().items() if v["Type"] == "AWS::Serverless::Function"}
    covered = {
        dimension(metric, "FunctionName")["Ref"]
        for props in alarms().values()
        for metric in watched(props)
        if metric["Namespace"] == "AWS/Lambda" and metric["MetricName"] == "Errors"
    }
    assert functions
    assert functions - covered == set(), "a function without an Errors alarm"


def test_the_priority_queue_alarms_when_its_oldest_message_waits_over_60_seconds() -> None:
    props = alarms()["PriorityQueueOldestMessageAlarm"]
    metrics = {m["MetricName"]: m for m in watched(props)}
    age = metrics["ApproximateAgeOfOldestMessage"]
    assert dimension(age, "QueueName") == {"Fn::GetAtt": ["PriorityQueue", "QueueName"]}
    assert props["Threshold"] == 60
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    [expression] = [q["Expression"] for q in props["Metrics"] if "Expression" in q]
    assert "age" in expression


def test_the_send_failure_rate_is_computed_from_the_workers_metrics() -> None:
    props = alarms()["SendFailureRateAlarm"]
    metrics = {q["Id"]: q["MetricStat"]["Metric"]["MetricName"] for q in props["Metrics"] if "MetricStat" in q}
    assert metrics == {"sent": "EmailsSent", "failed": "SendFailures"}
    [returned] = [q for q in props["Metrics"] if q.get("ReturnData", True)]
    assert "failed" in returned["Expression"] and "sent" in returned["Expression"]
    assert props["Threshold"] == 5


@pytest.mark.parametrize(
    ("alarm", "metric", "threshold"),
    [
        ("SesBounceRateAlarm", "Reputation.BounceRate", 0.05),
        ("SesComplaintRateAlarm", "Reputation.ComplaintRate", 0.001),
    ],
)
def test_the_accounts_reputation_warns_at_5_and_0_1_percent(alarm: str, metric: str, threshold: float) -> None:
    props = alarms()[alarm]
    assert (props["Namespace"], props["MetricName"]) == ("AWS/SES", metric)
    # SES publishes the rate as a fraction: 0.05 is 5%
    assert props["Threshold"] == threshold
    assert props["ComparisonOperator"] == "GreaterThanThreshold"


def test_the_sweeper_requeuing_jobs_alarms() -> None:
    props = alarms()["JobsSweptAlarm"]
    assert props["MetricName"] == "JobsSwept"
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_every_custom_metric_an_alarm_watches_is_one_the_code_emits() -> None:
    namespace = globals_env()["POWERTOOLS_METRICS_NAMESPACE"]
    service = globals_env()["POWERTOOLS_SERVICE_NAME"]
    emitted = emitted_metric_names()
    custom = [m for props in alarms().values() for m in watched(props) if not m["Namespace"].startswith("AWS/")]
    assert custom, "no alarm watches a metric of ours"
    for metric in custom:
        # Powertools publishes under the template's namespace, with a service dimension
        assert metric["Namespace"] == namespace
        assert dimension(metric, "service") == service
        assert metric["MetricName"] in emitted, f"{metric['MetricName']} is published by no add_metric call"


def test_every_alarm_notifies_the_topic_on_alarm_and_on_recovery() -> None:
    for logical, props in alarms().items():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}], logical
        assert "docs/runbook.md" in props["AlarmDescription"], logical


def test_the_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_the_email_is_optional() -> None:
    template = load_template()
    topic = resources()["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = resources()["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    cloudwatch = [
        s for s in key["KeyPolicy"]["Statement"] if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert cloudwatch and set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    # No address, no subscription
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    subscription = resources()["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}


# ------------------------------------------------------------ runbook and dashboard
def runbook_sections() -> dict[str, str]:
    text = RUNBOOK.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    return {part.splitlines()[0].strip().strip("`"): part for part in parts}


def test_every_alarm_has_its_runbook_section_saying_what_where_and_what_to_do() -> None:
    sections = runbook_sections()
    for logical in alarms():
        assert logical in sections, f"docs/runbook.md has no '## {logical}' section"
        body = sections[logical]
        for part in ("What it means", "Where to look", "What to do"):
            assert part in body, f"{logical}: no '{part}'"


def test_the_runbook_documents_no_alarm_the_template_lacks() -> None:
    sections = {name for name in runbook_sections() if name.endswith("Alarm")}
    assert sections - set(alarms()) == set()


def dashboard_body() -> dict[str, Any]:
    body = resources()["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # Every substitution resolves: a parameter, a pseudo parameter or a resource
    refs = re.findall(r"\$\{([^}]+)\}", body)
    known = set(resources()) | set(load_template()["Parameters"]) | {"AWS::Region", "AWS::AccountId"}
    assert {ref.split(".")[0] for ref in refs} <= known
    parsed: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))
    return parsed


def test_the_dashboard_shows_every_alarm() -> None:
    body = resources()["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = dashboard_body()["widgets"]
    [status] = [w for w in widgets if w["type"] == "alarm"]
    assert sorted(status["properties"]["alarms"]) == sorted(f"{logical}.Arn" for logical in alarms())
    # and a graph of each alarm's metrics
    for props in alarms().values():
        for metric in watched(props):
            assert f'"{metric["MetricName"]}"' in body, metric["MetricName"]


def test_the_dashboard_graphs_every_dead_letter_queue_and_every_functions_errors() -> None:
    body = resources()["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for queue in dead_letter_queues():
        assert f'"ApproximateNumberOfMessagesVisible", "QueueName", "${{{queue}.QueueName}}"' in body, queue
    for function in (k for k, v in resources().items() if v["Type"] == "AWS::Serverless::Function"):
        assert f'"Errors", "FunctionName", "${{{function}}}"' in body, function


def test_ses_events_waiting_over_15_minutes_alarm_before_their_queue_parks_them() -> None:
    props = alarms()["SesEventsQueueOldestMessageAlarm"]
    [metric] = watched(props)
    assert (metric["Namespace"], metric["MetricName"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert dimension(metric, "QueueName") == {"Fn::GetAtt": ["SesEventsQueue", "QueueName"]}
    assert (props["Threshold"], props["ComparisonOperator"]) == (900, "GreaterThanThreshold")
    # An event is parked after maxReceiveCount receives, a visibility timeout apart
    queue = resources()["SesEventsQueue"]["Properties"]
    parked_after = queue["RedrivePolicy"]["maxReceiveCount"] * queue["VisibilityTimeout"]
    assert props["Threshold"] + props["Period"] * props["EvaluationPeriods"] < parked_after


def test_the_http_apis_5xx_answers_alarm_the_functions_own_included() -> None:
    props = alarms()["HttpApi5xxAlarm"]
    [metric] = watched(props)
    # HTTP APIs publish 4xx, 5xx and Count by ApiId (REST APIs' names are 5XXError, ApiName)
    assert (metric["Namespace"], metric["MetricName"]) == ("AWS/ApiGateway", "5xx")
    assert metric["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]
    assert resources()["HttpApi"]["Type"] == "AWS::Serverless::HttpApi"
    assert (props["Statistic"], props["Threshold"], props["ComparisonOperator"]) == ("Sum", 0, "GreaterThanThreshold")
    # A 500 a function answers itself ends its invocation normally: no Errors alarm sees it,
    # so it is counted apart (common/adapters/api.py) and graphed beside the 5xx
    assert "ApiServerErrors" in emitted_metric_names()
    body = resources()["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert '["AWS/ApiGateway", "5xx", "ApiId", "${HttpApi}"]' in body
    assert '["EmailOperations", "ApiServerErrors", "service", "email-operations"]' in body


def test_every_metric_of_ours_the_dashboard_graphs_is_one_the_code_emits() -> None:
    namespace = globals_env()["POWERTOOLS_METRICS_NAMESPACE"]
    graphed = {
        line[1]
        for widget in dashboard_body()["widgets"]
        if widget["type"] == "metric"
        for line in widget["properties"]["metrics"]
        if isinstance(line[0], str) and line[0] == namespace
    }
    assert {"EmailsSent", "EmailsDelivered", "ApiServerErrors"} <= graphed  # the scan itself
    assert graphed - emitted_metric_names() == set(), "a graph of a metric no code publishes"
