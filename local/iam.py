"""Each function's AWS calls checked against its IAM role, as IAM checks them.

moto's own access control authorises every action against the resource
``*`` (S3 alone against its bucket), so it cannot tell a Query on one index
from a Query on another. This module does what IAM does for the policies
``template.yaml`` gives the functions' roles (``local/roles.py`` derives them
as SAM deploys them):

- per call, the IAM action(s) and the resource ARN(s) AWS authorises it
  against (``requests_for``; the Service Authorization Reference of each
  service), with the condition keys the request carries;
- per role, IAM's evaluation: an explicit Deny wins, else an Allow whose
  Action, Resource and Condition all match, else an implicit deny;
- a call outside the role fails before it is sent, with the error the
  service itself answers (``AccessDeniedException``; S3's and SQS's
  ``AccessDenied``, HTTP 403) and IAM's message;
- a call this module cannot map to its resources is denied (fail closed), so
  a new call without a rule is caught like a new call without a permission.

Only calls made while a function runs are checked (``running_as``): the
local stack's own calls and a test's set-up are not a function's.

Standard library and botocore only: the built-artifact tests load this file
by path into an interpreter that has nothing else (tests/build/lambda_harness.py).
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import functools
import json
import logging
import os
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger("local.iam")


class PolicyError(ValueError):
    """A policy uses something this module cannot evaluate as IAM would."""


class NoRule(LookupError):
    """A call this module does not know how AWS authorises (denied: fail closed)."""


# ------------------------------------------------------------------ policies
# The condition keys computed for a request (requests_for). A statement using
# another key is refused when its role is loaded: with the key absent, IAM
# would evaluate the condition differently from what AWS does with it present.
KNOWN_CONDITION_KEYS = frozenset(
    {
        "dynamodb:leadingkeys",
        "ses:fromaddress",
        "ses:fromdisplayname",
        "ses:recipients",
        "ses:feedbackaddress",
        "ses:tenantname",
        "ses:apiversion",
        "events:source",
        "events:detail-type",
        "aws:requestedregion",
        "aws:securetransport",
    }
)
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str, *, case: bool = True) -> re.Pattern[str]:
    """IAM's string wildcards: ``*`` any characters, ``?`` one."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (0 if case else re.IGNORECASE))


@functools.lru_cache(maxsize=4096)
def _arn_pattern(pattern: str) -> re.Pattern[str]:
    """An ARN in a policy's Resource: wildcards stay within a colon-separated
    segment, except a ``*`` that ends a segment, which may run past it (IAM
    User Guide, "IAM JSON policy elements: Resource")."""
    out = []
    for i, c in enumerate(pattern):
        if c == "*":
            ends_segment = i + 1 == len(pattern) or pattern[i + 1] == ":"
            out.append(".*" if ends_segment else "[^:]*")
        elif c == "?":
            out.append("[^:]")
        else:
            out.append(re.escape(c))
    return re.compile("".join(out), re.DOTALL)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _compare(base: str, value: str, wanted: str) -> bool:
    if base == "StringEquals":
        return value == wanted
    if base == "StringEqualsIgnoreCase":
        return value.lower() == wanted.lower()
    if base == "StringLike":
        return _glob(wanted).fullmatch(value) is not None
    if base in ("ArnEquals", "ArnLike"):
        return _arn_pattern(wanted).fullmatch(value) is not None
    if base == "Bool":
        return value.lower() == wanted.lower()
    number, limit = _number(value), _number(wanted)
    if number is None or limit is None:
        return False
    return {
        "NumericEquals": number == limit,
        "NumericLessThan": number < limit,
        "NumericLessThanEquals": number <= limit,
        "NumericGreaterThan": number > limit,
        "NumericGreaterThanEquals": number >= limit,
    }[base]


_BASES = {
    "StringEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "ArnEquals",
    "ArnLike",
    "Bool",
    "NumericEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "Null",
    *_NEGATED,
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Condition:
    """One key under one condition operator: ``ForAllValues:StringLike`` on
    ``dynamodb:LeadingKeys`` with its values (any of them may match)."""

    operator: str
    key: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        prefix, base, _ = self._parts()
        if prefix not in ("", "ForAllValues", "ForAnyValue") or base not in _BASES:
            raise PolicyError(f"condition operator {self.operator} cannot be evaluated locally")
        if self.key.lower() not in KNOWN_CONDITION_KEYS:
            raise PolicyError(f"condition key {self.key} is not computed for local requests (local/iam.py)")

    def _parts(self) -> tuple[str, str, bool]:
        prefix, _, base = self.operator.rpartition(":")
        if_exists = base.endswith("IfExists") and base != "IfExists"
        return prefix, base.removesuffix("IfExists") if if_exists else base, if_exists

    def holds(self, context: Mapping[str, tuple[str, ...]]) -> bool:
        """IAM's evaluation (IAM User Guide, "IAM JSON policy elements: Condition
        operators" and "Multivalued context keys")."""
        prefix, base, if_exists = self._parts()
        present = context.get(self.key.lower())
        if base == "Null":
            return any((not present) == (wanted.lower() == "true") for wanted in self.values)
        positive = _NEGATED.get(base, base)

        def matches(value: str) -> bool:
            hit = any(_compare(positive, value, wanted) for wanted in self.values)
            return not hit if base in _NEGATED else hit

        if not present:
            if prefix == "ForAllValues":
                return True
            if prefix == "ForAnyValue":
                return False
            return if_exists or base in _NEGATED
        if prefix == "ForAllValues":
            return all(matches(value) for value in present)
        return any(matches(value) for value in present)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(_text(v) for v in value)
    return (_text(value),)


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    # Where it comes from (role policy and index), for messages and the report.
    source: str = ""

    @classmethod
    def parse(cls, raw: Mapping[str, Any], source: str = "") -> Statement:
        """One statement of an identity-based policy, already resolved (no intrinsics left)."""
        unknown = set(raw) - {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
        if unknown:
            raise PolicyError(f"{source}: {', '.join(sorted(unknown))} has no place in an identity-based policy")
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"{source}: Effect must be Allow or Deny, not {effect!r}")
        conditions: list[Condition] = []
        for operator, block in (raw.get("Condition") or {}).items():
            for key, values in block.items():
                conditions.append(Condition(operator, key, _strings(values)))
        for name in ("Action", "NotAction", "Resource", "NotResource"):
            value = raw.get(name)
            for item in value if isinstance(value, list) else [value]:
                if item is not None and (not isinstance(item, str) or "${" in item):
                    raise PolicyError(f"{source}: {name} {item!r} is not resolved")
        return cls(
            effect=effect,
            actions=_strings(raw.get("Action")),
            not_actions=_strings(raw.get("NotAction")),
            resources=_strings(raw.get("Resource")),
            not_resources=_strings(raw.get("NotResource")),
            conditions=tuple(conditions),
            source=source,
        )

    def applies(self, request: Request) -> bool:
        if self.actions:
            action_hit = any(_glob(a, case=False).fullmatch(request.action) for a in self.actions)
        else:
            action_hit = not any(_glob(a, case=False).fullmatch(request.action) for a in self.not_actions)
        if not action_hit:
            return False
        if self.resources:
            resource_hit = any(_arn_pattern(r).fullmatch(request.resource) for r in self.resources)
        else:
            resource_hit = not any(_arn_pattern(r).fullmatch(request.resource) for r in self.not_resources)
        return resource_hit and all(c.holds(request.context) for c in self.conditions)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Effect": self.effect}
        for name, values in (
            ("Action", self.actions),
            ("NotAction", self.not_actions),
            ("Resource", self.resources),
            ("NotResource", self.not_resources),
        ):
            if values:
                out[name] = list(values)
        if self.conditions:
            block: dict[str, dict[str, list[str]]] = {}
            for c in self.conditions:
                block.setdefault(c.operator, {})[c.key] = list(c.values)
            out["Condition"] = block
        return out


@dataclass(frozen=True)
class Request:
    """What IAM authorises: one action on one resource, with the request's condition keys."""

    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    statement: Statement | None = None  # the Allow that matched, or the Deny


@dataclass(frozen=True)
class Role:
    """A function's execution role: every statement of every policy attached to it."""

    function: str
    name: str
    statements: tuple[Statement, ...]

    def decide(self, request: Request) -> Decision:
        allowing: Statement | None = None
        for statement in self.statements:
            if statement.applies(request):
                if statement.effect == "Deny":
                    return Decision(False, statement)
                allowing = allowing or statement
        return Decision(allowing is not None, allowing)

    def to_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "name": self.name,
            "statements": [{"source": s.source, **s.to_json()} for s in self.statements],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Role:
        statements = tuple(
            Statement.parse({k: v for k, v in s.items() if k != "source"}, s.get("source", ""))
            for s in raw["statements"]
        )
        return cls(function=raw["function"], name=raw["name"], statements=statements)


# ------------------------------------------------------------------- requests
@dataclass(frozen=True)
class Facts:
    """What mapping a call to its resources needs to know about the stack."""

    region: str
    account: str
    partition: str = "aws"
    # DynamoDB: each table's partition key, and each index's ("<table>/<index>").
    table_keys: Mapping[str, str] = field(default_factory=dict)
    index_keys: Mapping[str, str] = field(default_factory=dict)
    # Secrets Manager: each secret's name and full ARN (a name is authorised as its ARN).
    secrets: Mapping[str, str] = field(default_factory=dict)
    # SES: the verified identities (addresses or domains), and whether the
    # account is in the sandbox (SES then authorises each recipient's identity too).
    ses_identities: tuple[str, ...] = ()
    ses_sandbox: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "account": self.account,
            "partition": self.partition,
            "table_keys": dict(self.table_keys),
            "index_keys": dict(self.index_keys),
            "secrets": dict(self.secrets),
            "ses_identities": list(self.ses_identities),
            "ses_sandbox": self.ses_sandbox,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Facts:
        return cls(**{**raw, "ses_identities": tuple(raw.get("ses_identities", ()))})

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"


def _attribute(value: Mapping[str, Any]) -> str:
    """A DynamoDB key attribute value as a condition key's string."""
    for kind in ("S", "N"):
        if kind in value:
            return str(value[kind])
    if "B" in value:
        raw = value["B"]
        return base64.b64encode(raw).decode() if isinstance(raw, bytes | bytearray) else str(raw)
    raise NoRule(f"a key attribute of type {sorted(value)} cannot be a partition key")


_KEY_EQUALS = re.compile(r"(#?[A-Za-z0-9_.\-]+)\s*=\s*(:[A-Za-z0-9_]+)")


class _DynamoDb:
    ITEM_ACTIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}
    TABLE_ACTIONS = {"DescribeTable", "DescribeTimeToLive", "DescribeContinuousBackups"}
    TRANSACT = {
        "Put": "PutItem",
        "Update": "UpdateItem",
        "Delete": "DeleteItem",
        "ConditionCheck": "ConditionCheckItem",
    }

    def __init__(self, facts: Facts) -> None:
        self.facts = facts

    def table(self, name: str) -> tuple[str, str]:
        """(table name, table ARN) of a TableName, which may be either."""
        if name.startswith("arn:"):
            return name.rpartition(":table/")[2].split("/")[0], name
        return name, self.facts.arn("dynamodb", f"table/{name}")

    def leading(self, table: str, keys: Sequence[Mapping[str, Any]], index: str | None = None) -> tuple[str, ...]:
        attribute = self.facts.index_keys.get(f"{table}/{index}") if index else self.facts.table_keys.get(table)
        if attribute is None:
            raise NoRule(f"the partition key of {table}{'/' + index if index else ''} is not known")
        return tuple(_attribute(key[attribute]) for key in keys if attribute in key)

    def requests(self, operation: str, params: Mapping[str, Any]) -> list[Request]:
        if operation in self.ITEM_ACTIONS:
            name, arn = self.table(params["TableName"])
            key = params.get("Item") if operation == "PutItem" else params.get("Key")
            leading = self.leading(name, [key or {}])
            return [Request(f"dynamodb:{operation}", arn, {"dynamodb:leadingkeys": leading})]
        if operation in ("Query", "Scan"):
            name, arn = self.table(params["TableName"])
            index = params.get("IndexName")
            resource = f"{arn}/index/{index}" if index else arn
            context: dict[str, tuple[str, ...]] = {}
            if operation == "Query":
                context["dynamodb:leadingkeys"] = self.query_leading(name, index, params)
            return [Request(f"dynamodb:{operation}", resource, context)]
        if operation == "BatchGetItem":
            out = []
            for table, spec in params["RequestItems"].items():
                name, arn = self.table(table)
                leading = self.leading(name, spec.get("Keys", []))
                out.append(Request("dynamodb:BatchGetItem", arn, {"dynamodb:leadingkeys": leading}))
            return out
        if operation == "BatchWriteItem":
            out = []
            for table, writes in params["RequestItems"].items():
                name, arn = self.table(table)
                keys = [w["PutRequest"]["Item"] if "PutRequest" in w else w["DeleteRequest"]["Key"] for w in writes]
                out.append(Request("dynamodb:BatchWriteItem", arn, {"dynamodb:leadingkeys": self.leading(name, keys)}))
            return out
        if operation in ("TransactWriteItems", "TransactGetItems"):
            # Each item is authorised as its own action (DynamoDB developer guide,
            # "Using IAM with DynamoDB transactions").
            out = []
            for item in params["TransactItems"]:
                ((kind, body),) = item.items()
                action = "GetItem" if kind == "Get" else self.TRANSACT[kind]
                name, arn = self.table(body["TableName"])
                key = body.get("Item") if kind == "Put" else body.get("Key")
                out.append(Request(f"dynamodb:{action}", arn, {"dynamodb:leadingkeys": self.leading(name, [key])}))
            return out
        if operation in self.TABLE_ACTIONS:
            return [Request(f"dynamodb:{operation}", self.table(params["TableName"])[1])]
        raise NoRule(f"DynamoDB {operation}")

    def query_leading(self, table: str, index: str | None, params: Mapping[str, Any]) -> tuple[str, ...]:
        attribute = self.facts.index_keys.get(f"{table}/{index}") if index else self.facts.table_keys.get(table)
        if attribute is None:
            raise NoRule(f"the partition key of {table}{'/' + index if index else ''} is not known")
        legacy = (params.get("KeyConditions") or {}).get(attribute)
        if legacy:
            return tuple(_attribute(v) for v in legacy.get("AttributeValueList", []))
        names = params.get("ExpressionAttributeNames") or {}
        values = params.get("ExpressionAttributeValues") or {}
        for name, placeholder in _KEY_EQUALS.findall(params.get("KeyConditionExpression", "")):
            if names.get(name, name) == attribute and placeholder in values:
                return (_attribute(values[placeholder]),)
        return ()


def _queue_arn(facts: Facts, url: str) -> str:
    """An SQS queue URL's ARN: ``https://<host>/<account>/<name>``."""
    parts = urlparse(url).path.strip("/").split("/")
    if len(parts) != 2:
        raise NoRule(f"{url} is not a queue URL")
    account, name = parts
    return f"arn:{facts.partition}:sqs:{facts.region}:{account}:{name}"


_SQS = {
    "SendMessage": "SendMessage",
    "SendMessageBatch": "SendMessage",
    "ReceiveMessage": "ReceiveMessage",
    "DeleteMessage": "DeleteMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibility": "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "GetQueueAttributes": "GetQueueAttributes",
    "PurgeQueue": "PurgeQueue",
}
# S3 object operations and the action each needs (HeadObject is authorised as GetObject).
_S3_OBJECT = {
    "GetObject": "GetObject",
    "HeadObject": "GetObject",
    "PutObject": "PutObject",
    "DeleteObject": "DeleteObject",
}


def _copy_object(facts: Facts, params: Mapping[str, Any]) -> list[Request]:
    """CopyObject reads the source as GetObject and writes the target as
    PutObject (Amazon S3 User Guide, "Required permissions" of CopyObject)."""
    source = params["CopySource"]
    if isinstance(source, str):
        bucket, _, key = source.lstrip("/").split("?", 1)[0].partition("/")
    else:
        bucket, key = source["Bucket"], source["Key"]
    return [
        Request("s3:GetObject", f"arn:{facts.partition}:s3:::{bucket}/{key}"),
        Request("s3:PutObject", f"arn:{facts.partition}:s3:::{params['Bucket']}/{params['Key']}"),
    ]


_S3_BUCKET = {"ListObjectsV2": "ListBucket", "ListObjects": "ListBucket", "HeadBucket": "ListBucket"}
# Calls whose IAM action has no resource type: authorised against "*".
_ANY_RESOURCE = {
    ("sesv2", "GetAccount"): "ses:GetAccount",
    ("ses", "GetSendQuota"): "ses:GetSendQuota",
    ("ses", "GetSendStatistics"): "ses:GetSendStatistics",
    ("ses", "GetAccountSendingEnabled"): "ses:GetAccountSendingEnabled",
    ("cloudwatch", "PutMetricData"): "cloudwatch:PutMetricData",
    ("xray", "PutTraceSegments"): "xray:PutTraceSegments",
}


def _addresses(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(address for _, address in getaddresses(list(values)) if address)


class _Ses:
    def __init__(self, facts: Facts) -> None:
        self.facts = facts

    def identity(self, address: str) -> str:
        """The identity SES authorises an address against: the address itself
        when it is verified, else its domain."""
        verified = {i.lower() for i in self.facts.ses_identities}
        name = address if address.lower() in verified else address.rpartition("@")[2]
        return self.facts.arn("ses", f"identity/{name}")

    def tenant(self, name: str) -> str:
        # A tenant's ARN ends with the id SES gives it; locally the name stands in.
        return self.facts.arn("ses", f"tenant/{name}/{name}")

    def send_email(self, params: Mapping[str, Any]) -> list[Request]:
        """SendEmail (SES API v2): the identity (required), the configuration
        set and the template when named, and in the sandbox each recipient's
        identity (Service Authorization Reference, "Amazon Simple Email Service
        v2"; docs/adr/0017-ses-send-permissions.md)."""
        display, sender = parseaddr(params.get("FromEmailAddress", ""))
        destination = params.get("Destination") or {}
        recipients = _addresses(
            [
                *destination.get("ToAddresses", []),
                *destination.get("CcAddresses", []),
                *destination.get("BccAddresses", []),
            ]
        )
        context: dict[str, tuple[str, ...]] = {"ses:apiversion": ("2",), "ses:recipients": recipients}
        if sender:
            context["ses:fromaddress"] = (sender,)
        if display:
            context["ses:fromdisplayname"] = (display,)
        if params.get("FeedbackForwardingEmailAddress"):
            context["ses:feedbackaddress"] = (params["FeedbackForwardingEmailAddress"],)
        if params.get("TenantName"):
            context["ses:tenantname"] = (params["TenantName"],)
        resources = [params.get("FromEmailAddressIdentityArn") or self.identity(sender)]
        if params.get("ConfigurationSetName"):
            resources.append(self.facts.arn("ses", f"configuration-set/{params['ConfigurationSetName']}"))
        template = (params.get("Content") or {}).get("Template")
        if template:
            resources.append(
                template.get("TemplateArn") or self.facts.arn("ses", f"template/{template['TemplateName']}")
            )
        if self.facts.ses_sandbox:
            resources += [self.identity(r) for r in recipients]
        return [Request("ses:SendEmail", resource, context) for resource in dict.fromkeys(resources)]

    def requests(self, operation: str, params: Mapping[str, Any]) -> list[Request]:
        if operation == "SendEmail":
            return self.send_email(params)
        if operation == "CreateTenant":
            return [Request("ses:CreateTenant", self.tenant(params["TenantName"]))]
        if operation == "CreateTenantResourceAssociation":
            tenant = self.tenant(params["TenantName"])
            return [
                Request("ses:CreateTenantResourceAssociation", tenant),
                Request("ses:CreateTenantResourceAssociation", params["ResourceArn"]),
            ]
        raise NoRule(f"SES {operation}")


def _events(facts: Facts, params: Mapping[str, Any]) -> list[Request]:
    """PutEvents: each entry against its event bus, with its source and detail type."""
    out = []
    for entry in params.get("Entries", []):
        bus = entry.get("EventBusName") or "default"
        arn = bus if bus.startswith("arn:") else facts.arn("events", f"event-bus/{bus}")
        context = {"events:source": (entry.get("Source", ""),), "events:detail-type": (entry.get("DetailType", ""),)}
        out.append(Request("events:PutEvents", arn, context))
    return out


def requests_for(service: str, operation: str, params: Mapping[str, Any], facts: Facts) -> list[Request]:
    """What IAM authorises for one call of botocore's ``service`` (its service
    name: ``dynamodb``, ``sesv2``...). ``NoRule`` when this module does not
    know (the caller denies it)."""
    if (service, operation) in _ANY_RESOURCE:
        return [Request(_ANY_RESOURCE[(service, operation)], "*")]
    if service == "dynamodb":
        return _DynamoDb(facts).requests(operation, params)
    if service == "sqs" and operation in _SQS:
        return [Request(f"sqs:{_SQS[operation]}", _queue_arn(facts, params["QueueUrl"]))]
    if service == "s3" and operation in _S3_OBJECT:
        return [
            Request(f"s3:{_S3_OBJECT[operation]}", f"arn:{facts.partition}:s3:::{params['Bucket']}/{params['Key']}")
        ]
    if service == "s3" and operation == "CopyObject":
        return _copy_object(facts, params)
    if service == "s3" and operation in _S3_BUCKET:
        return [Request(f"s3:{_S3_BUCKET[operation]}", f"arn:{facts.partition}:s3:::{params['Bucket']}")]
    if service == "secretsmanager" and operation in ("GetSecretValue", "DescribeSecret"):
        secret = params["SecretId"]
        arn = (
            secret
            if secret.startswith("arn:")
            else facts.secrets.get(secret) or facts.arn("secretsmanager", f"secret:{secret}")
        )
        return [Request(f"secretsmanager:{operation}", arn)]
    if service == "sesv2":
        return _Ses(facts).requests(operation, params)
    if service == "events" and operation == "PutEvents":
        return _events(facts, params)
    if service == "sts" and operation == "GetCallerIdentity":
        return []  # needs no permission
    raise NoRule(f"{service} {operation}")


# ----------------------------------------------------------------- denials
# The error each service answers for an IAM denial, and its HTTP status.
_DENIAL = {"s3": ("AccessDenied", 403), "sqs": ("AccessDenied", 403), "sesv2": ("AccessDeniedException", 403)}
_DEFAULT_DENIAL = ("AccessDeniedException", 400)


def denial_message(principal: str, request: Request, decision: Decision, *, service: str = "") -> str:
    """IAM's words for a denied request (SQS writes the action in lower case:
    ``sqs:sendmessage``, as recorded against AWS in aws/serverless-application-model#3633)."""
    action = request.action.lower() if service == "sqs" else request.action
    head = f"User: {principal} is not authorized to perform: {action} on resource: {request.resource}"
    if decision.statement is not None and decision.statement.effect == "Deny":
        return f"{head} with an explicit deny in an identity-based policy"
    return f"{head} because no identity-based policy allows the {action} action"


def denial(service: str, operation: str, message: str, exceptions: Any) -> Exception:
    """The exception botocore raises for the service's denial, of the class
    ``client.exceptions`` has for its code (``exceptions``: the session's
    exceptions factory's for the service)."""
    code, status = _DENIAL.get(service, _DEFAULT_DENIAL)
    parsed = {
        "Error": {"Code": code, "Message": message},
        "Message": message,
        "ResponseMetadata": {
            "RequestId": str(uuid.uuid4()),
            "HTTPStatusCode": status,
            "HTTPHeaders": {"x-amzn-errortype": code},
            "RetryAttempts": 0,
        },
    }
    error_class = exceptions.from_code(code)
    made: Exception = error_class(parsed, operation)
    return made


# ----------------------------------------------------------------- recording
@dataclass(frozen=True)
class Checked:
    function: str
    action: str
    resource: str
    allowed: bool
    statement: str  # the statement that decided ("" when none did)


class Recorder:
    """Every call checked, counted, written as JSON lines for the permissions
    report (``make deploy-check``): one file per process."""

    def __init__(self, path: Path, template: str) -> None:
        self.path = path
        self.template = template  # digest of the template.yaml the roles came from
        self._counts: Counter[Checked] = Counter()
        self._lock = threading.Lock()
        self.denied: list[Checked] = []  # every denial, in order

    def record(self, checked: Checked, calls: int = 1) -> None:
        with self._lock:
            self._counts[checked] += calls
            if not checked.allowed:
                self.denied.append(checked)

    def merge(self, path: Path) -> None:
        """Add the calls another process recorded in ``path`` (written by its ``flush``)."""
        if not path.exists():
            return
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.pop("template") != self.template:
                raise ValueError(f"{path} was checked against another template.yaml")
            calls = row.pop("calls")
            self.record(Checked(**row), calls)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def flush(self) -> None:
        with self._lock:
            rows = [
                {"template": self.template, **c.__dict__, "calls": n}
                for c, n in sorted(self._counts.items(), key=lambda kv: (kv[0].function, kv[0].action, kv[0].resource))
            ]
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".part")
        partial.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        os.replace(partial, self.path)


# ------------------------------------------------------------------ checking
_running: contextvars.ContextVar[str | None] = contextvars.ContextVar("local_iam_function", default=None)


@contextlib.contextmanager
def running_as(function: str) -> Iterator[None]:
    """Calls made in this block (and in work it hands to threads with its
    context) are ``function``'s."""
    token = _running.set(function)
    try:
        yield
    finally:
        _running.reset(token)


def running() -> str | None:
    """The function whose calls are being made here, if any."""
    return _running.get()


@dataclass
class Permissions:
    """What the check enforces: each function's role, the facts that map a
    call to its resources, and where the checked calls are recorded."""

    roles: Mapping[str, Role]
    facts: Facts
    recorder: Recorder | None = None


class Enforcer:
    """The check, installed on the functions' botocore session
    (``common.adapters.aws.add_session_hook(ENFORCER.install)``), enforcing
    the ``Permissions`` last activated."""

    def __init__(self) -> None:
        self._active: Permissions | None = None
        self._lock = threading.Lock()
        # Calls made by a function while no permissions were active (denied).
        self.unconfigured: list[str] = []

    def activate(self, permissions: Permissions | None) -> Permissions | None:
        """Enforce ``permissions`` from now on; returns what was enforced before."""
        with self._lock:
            previous, self._active = self._active, permissions
        return previous

    @property
    def active(self) -> Permissions | None:
        return self._active

    def install(self, session: Any) -> None:
        """Check every call of the clients ``session`` makes (a botocore session).

        The check runs at ``before-parameter-build``: every handler of that
        event runs (no earlier one can answer in its place, as a test's
        ``before-call`` answer can), and an exception raised there reaches
        the caller as the service's own error would."""
        # The session's own factory, whose classes its clients' ``exceptions`` are
        # (``except client.exceptions.AccessDenied`` catches the denial as from AWS).
        # botocore keeps it as an internal component; get_component() warns that it is.
        exceptions = session._get_internal_component("exceptions_factory")

        def check(params: Mapping[str, Any], model: Any, **_: Any) -> None:
            function = _running.get()
            if function is not None:
                self.check(function, model.service_model, model.name, params, exceptions)

        session.register("before-parameter-build", check, unique_id="local-iam-check")

    def check(self, function: str, service_model: Any, operation: str, params: Mapping[str, Any], factory: Any) -> None:
        service = service_model.service_name
        permissions = self._active
        if permissions is None:
            self.unconfigured.append(f"{function}: {service} {operation}")
            message = f"{function} made a {service} {operation} call, and no role is loaded to check it against"
            log.error(message)
            raise denial(service, operation, message, factory.create_client_exceptions(service_model))
        facts = permissions.facts
        role = permissions.roles.get(function) or Role(function, f"{function}Role", ())
        principal = f"arn:{facts.partition}:sts::{facts.account}:assumed-role/{role.name}/{function}"
        try:
            requests = requests_for(service, operation, params, facts)
        except KeyError:
            return  # a required parameter is missing: botocore's validation refuses the call itself
        except NoRule as exc:
            prefix = "ses" if service == "sesv2" else service
            request = Request(f"{prefix}:{operation}", "*")
            message = denial_message(principal, request, Decision(False), service=service)
            log.warning("%s (local/iam.py cannot tell which resources AWS authorises for it: %s)", message, exc)
            self._record(permissions, Checked(function, request.action, "*", False, "no rule in local/iam.py"))
            raise denial(service, operation, message, factory.create_client_exceptions(service_model)) from None
        for request in requests:
            decision = role.decide(request)
            statement = decision.statement.source if decision.statement else ""
            self._record(permissions, Checked(function, request.action, request.resource, decision.allowed, statement))
            if not decision.allowed:
                message = denial_message(principal, request, decision, service=service)
                log.warning("%s", message)
                raise denial(service, operation, message, factory.create_client_exceptions(service_model))

    @staticmethod
    def _record(permissions: Permissions, checked: Checked) -> None:
        if permissions.recorder is not None:
            permissions.recorder.record(checked)


ENFORCER = Enforcer()
