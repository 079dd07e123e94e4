"""template.yaml's SES event path: the configuration set publishes to the
default bus, one rule takes this stack's events to SesEventsQueue (only that
rule may send there), and SesEventsFunction drains it in batches with the
least it needs. The rule's pattern is checked against SES's own envelope with
the embedded EventBridge's matcher (moto's ``EventPattern``, what its rules
use: moto has no ``TestEventPattern``); tests/integration/test_ses_events.py
sends the same envelopes through the rule to the queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from local.template import Stack, default_parameters, load_template

EVENTS = Path(__file__).resolve().parents[1] / "events"
SAMPLES = sorted(EVENTS.glob("ses_*.json"))


def resources() -> dict[str, Any]:
    found: dict[str, Any] = load_template()["Resources"]
    return found


def resolved(logical: str) -> dict[str, Any]:
    template = load_template()
    stack = Stack(template=template, parameters=default_parameters(template))
    stack.names.update({"ConfigurationSet": stack.parameters["ConfigurationSetName"]})
    stack.arns.update(
        {name: f"arn:aws:sqs:us-east-1:123456789012:{name}" for name in ("SesEventsQueue", "SesEventsDeadLetterQueue")}
    )
    props: dict[str, Any] = stack.resolve(template["Resources"][logical]["Properties"])
    return props


def test_the_configuration_set_publishes_the_delivery_events_to_the_default_bus() -> None:
    destination = resources()["SesEventsToEventBridge"]
    assert destination["Type"] == "AWS::SES::ConfigurationSetEventDestination"
    props = destination["Properties"]
    assert props["ConfigurationSetName"] == {"Ref": "ConfigurationSet"}
    event = props["EventDestination"]
    assert event["Enabled"] is True
    # CloudFormation's names (its schema has no enum: cfn-lint would not catch a typo)
    assert sorted(event["MatchingEventTypes"]) == sorted(["delivery", "bounce", "complaint", "deliveryDelay", "reject"])
    bus = resolved("SesEventsToEventBridge")["EventDestination"]["EventBridgeDestination"]["EventBusArn"]
    assert bus == "arn:aws:events:us-east-1:123456789012:event-bus/default"


def test_only_the_rule_may_send_to_the_queues() -> None:
    policy = resources()["SesEventsQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "SesEventsQueue"}, {"Ref": "SesEventsDeadLetterQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["SesEventsRule", "Arn"]}}}


def test_the_queue_has_a_dead_letter_queue_and_outlasts_its_function() -> None:
    queue = resources()["SesEventsQueue"]["Properties"]
    function = resources()["SesEventsFunction"]["Properties"]
    timeout = function.get("Timeout", load_template()["Globals"]["Function"]["Timeout"])
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["SesEventsDeadLetterQueue", "Arn"]}
    assert 1 < queue["RedrivePolicy"]["maxReceiveCount"] <= 20
    target = resources()["SesEventsRule"]["Properties"]["Targets"][0]
    assert target["Arn"] == {"Fn::GetAtt": ["SesEventsQueue", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["SesEventsDeadLetterQueue", "Arn"]}}


def test_the_function_takes_batches_with_partial_failures_and_only_what_it_needs() -> None:
    function = resources()["SesEventsFunction"]["Properties"]
    (source,) = function["Events"].values()
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["SesEventsQueue", "Arn"]}
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Batching is the point (docs/adr/0022-ses-events.md): more than one event per invocation
    assert source["Properties"]["BatchSize"] > 10
    assert source["Properties"]["MaximumBatchingWindowInSeconds"] >= 1
    statements = [s for policy in function["Policies"] for s in policy["Statement"]]
    assert statements == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:PutItem"],
            "Resource": {"Fn::GetAtt": ["JobsTable", "Arn"]},
        },
        # The status events for Privas services, on their bus only (docs/adr/0085-status-events.md)
        {
            "Effect": "Allow",
            "Action": ["events:PutEvents"],
            "Resource": {
                "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${StatusEventBus}"
            },
        },
    ]


# ------------------------------------------------------------------ the pattern, as EventBridge matches it
def _pattern() -> str:
    return json.dumps(resolved("SesEventsRule")["EventPattern"])


def _envelope(path: Path, configuration_set: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(path.read_text())
    event["detail"]["mail"]["tags"]["ses:configuration-set"] = [configuration_set]
    return event


def matches(event: dict[str, Any]) -> bool:
    return EventPattern.load(_pattern()).matches_event(event)


OURS = load_template()["Parameters"]["ConfigurationSetName"]["Default"]


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_the_pattern_matches_ses_envelopes_of_this_configuration_set_only(path: Path) -> None:
    assert matches(_envelope(path, OURS))
    assert not matches(_envelope(path, "another-stacks-set"))
    assert not matches(_envelope(path, OURS) | {"source": "my.application"})
    untagged = _envelope(path, OURS)
    del untagged["detail"]["mail"]["tags"]["ses:configuration-set"]
    assert not matches(untagged)


@pytest.mark.parametrize("detail_type", ["Email Sent", "Email Opened", "Email Clicked", "Email Rendering Failed"])
def test_the_pattern_leaves_out_the_events_not_acted_on(detail_type: str) -> None:
    assert not matches(_envelope(EVENTS / "ses_delivery.json", OURS) | {"detail-type": detail_type})
