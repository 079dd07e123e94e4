"""``template.yaml`` read as data: the tests and the local stack build their
tables, queues and function environments from it, so neither can drift from
what is deployed.

Only what this template uses is resolved: ``Ref`` (parameters, resources,
pseudo parameters), ``Fn::GetAtt`` (``Arn``) and ``Fn::Sub``. Secrets are made in the embedded AWS with a random
value; functions get a secret's ARN and read the value at run time, as in AWS.
A dynamic reference (``{{resolve:...}}``) in a function's environment is
refused: it would put a secret's value into the function's configuration.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"

REGION = "us-east-1"
ACCOUNT = "123456789012"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Ref``, ``!GetAtt``, ``!Sub`` ...)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - YAML has no fourth kind of node
        raise TypeError(f"unexpected YAML node {node!r}")
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


_DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:")
# ``https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}``: an API's default endpoint.
_API_URL = re.compile(r"^https://\$\{([A-Za-z0-9]+)\}\.execute-api\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}(/.*)?$")


@cache
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return loaded


@dataclass
class Stack:
    """Physical names of a template's resources, resolved for one local stack.

    ``names`` maps a logical id to what ``Ref`` gives (table name, queue URL,
    configuration set name); ``arns`` to what ``GetAtt .Arn`` gives.
    """

    template: dict[str, Any]
    parameters: dict[str, str]
    names: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    region: str = REGION
    account: str = ACCOUNT
    # Where the HTTP APIs are served (the local stack's http://127.0.0.1:<port>);
    # None: an execute-api URL as in AWS.
    api_url: str | None = None

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v["Type"] == resource_type}

    # -------------------------------------------------------- intrinsics
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                if attribute != "Arn":
                    raise ValueError(f"GetAtt {logical}.{attribute} is not supported locally")
                return self.arns[logical]
            if key == "Fn::Sub":
                return self._sub(arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.names:
            return self.names[name]
        raise KeyError(f"Ref {name}: unknown parameter or resource")

    def _sub(self, text: str) -> str:
        api_url = _API_URL.match(text)
        if api_url and self.resources.get(api_url.group(1), {}).get("Type") == "AWS::Serverless::HttpApi":
            # An HTTP API's own URL: where the local stack serves it, when it does.
            base = self.api_url or f"https://{api_url.group(1).lower()}.execute-api.{self.region}.amazonaws.com"
            return base + (api_url.group(2) or "")

        def replace(match: re.Match[str]) -> str:
            ref = match.group(1)
            if "." in ref:
                logical, attribute = ref.split(".", 1)
                return str(self.resolve({"Fn::GetAtt": [logical, attribute]}))
            return str(self._ref(ref))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    # -------------------------------------------------------- functions
    def function_environment(self, logical_id: str) -> dict[str, str]:
        """Globals' variables, then the function's own, resolved to strings."""
        merged: dict[str, Any] = {}
        globals_env = self.template.get("Globals", {}).get("Function", {}).get("Environment", {})
        merged.update(globals_env.get("Variables", {}))
        own = self.resources[logical_id]["Properties"].get("Environment", {})
        merged.update(own.get("Variables", {}))
        resolved = {k: str(self.resolve(v)) for k, v in merged.items()}
        for key, value in resolved.items():
            if _DYNAMIC_REFERENCE.search(value):
                raise ValueError(f"{logical_id}: {key} is a dynamic reference; pass the secret's ARN and read it")
        return resolved

    def functions(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::Serverless::Function")


def default_parameters(template: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, str]:
    params = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
    params.update(overrides or {})
    missing = [name for name, value in params.items() if value is None]
    if missing:
        raise ValueError(f"parameters without a default need a value: {', '.join(missing)}")
    return {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in params.items()}


def create_stack(
    session: Any, *, prefix: str = "emailops", overrides: dict[str, str] | None = None, api_url: str | None = None
) -> Stack:
    """Create the template's tables, queues, buckets and SES configuration through
    ``session`` (a boto3 Session, pointed at moto) and return their names.
    ``api_url``: where the HTTP APIs are served (their URL in the functions' environments)."""
    template = load_template()
    stack = Stack(template=template, parameters=default_parameters(template, overrides), api_url=api_url)
    dynamodb = session.client("dynamodb", region_name=stack.region)
    sqs = session.client("sqs", region_name=stack.region)
    sesv2 = session.client("sesv2", region_name=stack.region)

    for logical, resource in stack.of_type("AWS::DynamoDB::Table").items():
        props = stack.resolve(resource["Properties"])
        name = f"{prefix}-{logical}"
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        dynamodb.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        stack.names[logical] = name
        stack.arns[logical] = f"arn:aws:dynamodb:{stack.region}:{stack.account}:table/{name}"

    # Dead-letter queues first: the others' redrive policies name them.
    queues = stack.of_type("AWS::SQS::Queue")
    ordered = sorted(queues, key=lambda logical: "RedrivePolicy" in queues[logical].get("Properties", {}))
    for logical in ordered:
        props = stack.resolve(queues[logical].get("Properties", {}))
        name = f"{prefix}-{logical}"
        attributes: dict[str, str] = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
            if key in props:
                attributes[key] = str(props[key])
        if "RedrivePolicy" in props:
            redrive = props["RedrivePolicy"]
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                    "maxReceiveCount": int(redrive["maxReceiveCount"]),
                }
            )
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        stack.names[logical] = url
        stack.arns[logical] = f"arn:aws:sqs:{stack.region}:{stack.account}:{name}"

    for logical, resource in stack.of_type("AWS::SES::ConfigurationSet").items():
        props = stack.resolve(resource["Properties"])
        sesv2.create_configuration_set(ConfigurationSetName=props["Name"])
        stack.names[logical] = props["Name"]
    # The sender must be a verified identity for SES (and moto) to send.
    sesv2.create_email_identity(EmailIdentity=stack.parameters["SenderAddress"])

    # Buckets (bodies): names are lower-case in S3. Their policies and
    # lifecycle rules are AWS's to enforce; the embedded AWS needs only the bucket.
    s3 = session.client("s3", region_name=stack.region)
    for logical in stack.of_type("AWS::S3::Bucket"):
        name = f"{prefix}-{logical}".lower()
        s3.create_bucket(Bucket=name)
        stack.names[logical] = name
        stack.arns[logical] = f"arn:aws:s3:::{name}"

    # Secrets with a generated value (GenerateSecretString): a random one here.
    secretsmanager = session.client("secretsmanager", region_name=stack.region)
    for logical in stack.of_type("AWS::SecretsManager::Secret"):
        value = secrets.token_urlsafe(48)
        arn = secretsmanager.create_secret(Name=f"{prefix}-{logical}", SecretString=value)["ARN"]
        stack.names[logical] = arn  # Ref of a secret is its ARN
        stack.arns[logical] = arn

    create_event_rules(session, stack, prefix=prefix)
    return stack


def create_event_rules(session: Any, stack: Stack, *, prefix: str) -> None:
    """The template's EventBridge rules with their SQS targets (SES's events
    reach SesEventsQueue through them, as in AWS; the embedded EventBridge
    matches the pattern and delivers to the queue). Queue policies are AWS's
    to enforce; the embedded AWS does not check them."""
    events = session.client("events", region_name=stack.region)
    for logical, resource in stack.of_type("AWS::Events::Rule").items():
        props = stack.resolve(resource["Properties"])
        name = f"{prefix}-{logical}"
        bus = str(props.get("EventBusName", "default"))
        arn = events.put_rule(
            Name=name,
            EventPattern=json.dumps(props["EventPattern"]),
            State=str(props.get("State", "ENABLED")),
            EventBusName=bus,
        )["RuleArn"]
        stack.names[logical] = name
        stack.arns[logical] = arn
        targets = [{"Id": str(t["Id"]), "Arn": str(t["Arn"])} for t in props.get("Targets", [])]
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
