"""Each function's IAM role, as ``sam deploy`` makes it from ``template.yaml``,
resolved for one local stack (``local.iam`` enforces it).

1. ``AWS::LanguageExtensions`` first, as CloudFormation runs it: the
   template's conditions are evaluated with the stack's parameters, every
   ``Fn::If`` takes its branch and ``AWS::NoValue`` disappears, and a resource
   whose ``Condition`` is false is not made (``SesTenantsPolicy`` without
   ``SesTenants=Yes``). CloudFormation would resolve the ``Fn::If`` inside a
   policy at deploy time instead; the statements come out the same.
2. The SAM transform, by SAM's own translator (``aws-sam-translator``, the
   version the SAM CLI in ``.venv-sam`` runs): each function's role with its
   inline policies (statements and SAM policy templates, expanded by SAM),
   the managed policies SAM attaches (basic execution, X-Ray for
   ``Tracing: Active``, SQS polling for an SQS event source), and the
   template's own ``AWS::IAM::Policy`` resources attached to that role.
3. ``Ref``, ``Fn::GetAtt``, ``Fn::Sub`` and ``Fn::Join`` resolved with the
   local stack's names and ARNs (``local.template.Stack``). AWS managed
   policies are read from ``MANAGED_POLICIES`` below; one not listed there
   is refused, so that no role silently has less or more than in AWS.

The translation takes about 0.2 s; it is made once per template and set of
parameters in a process, and each stack then resolves its own names.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any

from local import iam
from local.template import TEMPLATE, Stack

# The AWS managed policies SAM attaches to functions' roles, as published in
# the AWS Managed Policy Reference (docs.aws.amazon.com/aws-managed-policy/
# latest/reference/<name>.html): default versions AWSLambdaBasicExecutionRole
# v1, AWSXrayWriteOnlyAccess v2, AWSLambdaSQSQueueExecutionRole v1 (its
# "Resource": "*" lets every function with an SQS event source receive and
# delete messages of any queue, in AWS too).
MANAGED_POLICIES: Mapping[str, list[dict[str, Any]]] = {
    "service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": ["*"],
        }
    ],
    "service-role/AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            "Resource": "*",
        }
    ],
}

_SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
_NO_VALUE = object()


class RoleError(ValueError):
    """The template's roles cannot be derived as SAM would deploy them."""


def template_digest(text: bytes | None = None) -> str:
    """The SHA-256 of template.yaml: recorded with each checked call, so that
    the permissions report refuses calls checked against another version."""
    return hashlib.sha256(TEMPLATE.read_bytes() if text is None else text).hexdigest()


# ----------------------------------------------------------------- conditions
def pseudo_parameters(stack: Stack) -> dict[str, str]:
    return {
        "AWS::Region": stack.region,
        "AWS::AccountId": stack.account,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "emailops",
    }


def conditions(
    template: Mapping[str, Any], parameters: Mapping[str, str], pseudo: Mapping[str, str]
) -> dict[str, bool]:
    """Every condition of the template, evaluated with ``parameters``."""
    raw: Mapping[str, Any] = template.get("Conditions") or {}
    done: dict[str, bool] = {}

    def value(v: Any) -> str:
        if isinstance(v, dict) and set(v) == {"Ref"}:
            name = v["Ref"]
            if name in parameters:
                return str(parameters[name])
            if name in pseudo:
                return pseudo[name]
            raise RoleError(f"a condition refers to {name}, which is not a parameter")
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    def evaluate(expression: Any) -> bool:
        ((function, argument),) = expression.items()
        if function == "Condition":
            return named(argument)
        if function == "Fn::Equals":
            left, right = argument
            return value(left) == value(right)
        if function == "Fn::Not":
            return not evaluate(argument[0])
        if function == "Fn::And":
            return all(evaluate(a) for a in argument)
        if function == "Fn::Or":
            return any(evaluate(a) for a in argument)
        raise RoleError(f"condition function {function} is not evaluated locally")

    def named(name: str) -> bool:
        if name not in done:
            done[name] = evaluate(raw[name])
        return done[name]

    for name in raw:
        named(name)
    return done


def _choose(value: Any, chosen: Mapping[str, bool]) -> Any:
    """``value`` with every ``Fn::If`` resolved and ``AWS::NoValue`` removed."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            name, yes, no = value["Fn::If"]
            return _choose(yes if chosen[name] else no, chosen)
        if value == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        out = {}
        for key, item in value.items():
            resolved = _choose(item, chosen)
            if resolved is not _NO_VALUE:
                out[key] = resolved
        return out
    if isinstance(value, list):
        return [r for r in (_choose(item, chosen) for item in value) if r is not _NO_VALUE]
    return value


# --------------------------------------------------------------- translation
_translated: dict[str, dict[str, Any]] = {}
_translating = threading.Lock()


def translate(template: Mapping[str, Any], parameters: Mapping[str, str], pseudo: Mapping[str, str]) -> dict[str, Any]:
    """The CloudFormation template SAM makes of ``template`` (cached per
    template and parameters; the result is shared: do not change it)."""
    key = hashlib.sha256(
        json.dumps([template, dict(parameters), dict(pseudo)], sort_keys=True, default=str).encode()
    ).hexdigest()
    with _translating:
        if key not in _translated:
            _translated[key] = _translate(template, parameters, pseudo)
        return _translated[key]


def _translate(template: Mapping[str, Any], parameters: Mapping[str, str], pseudo: Mapping[str, str]) -> dict[str, Any]:
    import boto3  # noqa: PLC0415 - the translator wants a session for the region; only this needs it
    from samtranslator.model.exceptions import InvalidDocumentException  # noqa: PLC0415 - heavy, tests and tools only
    from samtranslator.parser.parser import Parser  # noqa: PLC0415
    from samtranslator.translator.translator import Translator  # noqa: PLC0415

    chosen = conditions(template, parameters, pseudo)
    document = copy.deepcopy(dict(template))
    transforms = document.get("Transform")
    listed = transforms if isinstance(transforms, list) else [transforms]
    if _SAM_TRANSFORM not in listed:
        raise RoleError(f"template.yaml does not use the SAM transform ({_SAM_TRANSFORM})")
    document["Transform"] = _SAM_TRANSFORM
    resources = {
        logical: _choose(resource, chosen)
        for logical, resource in document["Resources"].items()
        if "Condition" not in resource or chosen[resource["Condition"]]
    }
    for resource in resources.values():
        properties = resource.get("Properties") or {}
        # What `sam deploy` uploads: a local folder becomes an S3 object.
        for name in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(name), str) and not properties[name].startswith("s3://"):
                properties[name] = f"s3://local-artifacts/{properties[name].strip('/')}"
    document["Resources"] = resources
    for section in ("Outputs", "Globals"):
        if section in document:
            document[section] = _choose(document[section], chosen)
    translator = Translator(
        managed_policy_map={}, sam_parser=Parser(), boto_session=boto3.Session(region_name=pseudo["AWS::Region"])
    )
    try:
        translated: dict[str, Any] = translator.translate(
            sam_template=document,
            parameter_values={**parameters, **pseudo},
            get_managed_policy_map=lambda: {},
        )
    except InvalidDocumentException as exc:
        raise RoleError("; ".join(str(cause) for cause in exc.causes)) from exc
    return translated


# ------------------------------------------------------------------ resolving
def resolver(stack: Stack) -> Any:
    """A function resolving ``Fn::Join``, ``Ref``, ``Fn::GetAtt`` and ``Fn::Sub`` for ``stack``."""

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Fn::Join"}:
                separator, parts = value["Fn::Join"]
                return separator.join(str(resolve(p)) for p in parts)
            if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], list):
                # Fn::Sub with its own variables (SAM's policy templates write them so)
                text, variables = value["Fn::Sub"]
                for name, variable in variables.items():
                    text = text.replace("${" + name + "}", str(resolve(variable)))
                return stack.resolve({"Fn::Sub": text})
            if len(value) == 1 and next(iter(value)) in ("Ref", "Fn::GetAtt", "Fn::Sub"):
                return stack.resolve(value)
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return resolve


def placeholder_stack(template: Mapping[str, Any], parameters: Mapping[str, str]) -> Stack:
    """A stack of ``template`` not made anywhere: each resource named as the
    local stack names it, for what needs names but no AWS (make deploy-check)."""
    stack = Stack(template=dict(template), parameters=dict(parameters))
    region, account = stack.region, stack.account
    for logical, resource in template["Resources"].items():
        name = f"emailops-{logical}"
        kind = resource["Type"]
        if kind == "AWS::SQS::Queue":
            stack.names[logical] = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
            stack.arns[logical] = f"arn:aws:sqs:{region}:{account}:{name}"
        elif kind == "AWS::DynamoDB::Table":
            stack.names[logical] = name
            stack.arns[logical] = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        elif kind == "AWS::S3::Bucket":
            stack.names[logical] = name.lower()
            stack.arns[logical] = f"arn:aws:s3:::{name.lower()}"
        elif kind == "AWS::SecretsManager::Secret":
            stack.names[logical] = stack.arns[logical] = (
                f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-AbCdEf"
            )
        elif kind == "AWS::SES::ConfigurationSet":
            stack.names[logical] = str(stack.resolve(resource["Properties"]["Name"]))
        else:
            stack.names[logical] = name
            stack.arns[logical] = f"arn:aws:cloudformation:{region}:{account}:stack/emailops/{logical}"
    return stack


def _managed(arn: str) -> list[dict[str, Any]]:
    prefix = "arn:aws:iam::aws:policy/"
    name = arn.removeprefix(prefix)
    if not arn.startswith(prefix) or name not in MANAGED_POLICIES:
        raise RoleError(f"managed policy {arn}: its statements are not known locally (local/roles.py MANAGED_POLICIES)")
    return MANAGED_POLICIES[name]


def function_roles(stack: Stack, template: Mapping[str, Any] | None = None) -> dict[str, iam.Role]:
    """Each ``AWS::Serverless::Function``'s role in ``template`` (default: the
    stack's), with every statement resolved for ``stack``."""
    source = template if template is not None else stack.template
    pseudo = pseudo_parameters(stack)
    translated = translate(source, stack.parameters, pseudo)
    resources: dict[str, Any] = translated["Resources"]
    resolve = resolver(stack)
    roles: dict[str, iam.Role] = {}
    for function, resource in source["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        role_ref = resources[function]["Properties"].get("Role")
        if not (isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref):
            raise RoleError(f"{function}: its role is not one the template makes ({role_ref!r})")
        role_logical = role_ref["Fn::GetAtt"][0]
        role = resources[role_logical]["Properties"]
        documents: list[tuple[str, list[dict[str, Any]]]] = []
        for policy in role.get("Policies") or []:
            documents.append((policy["PolicyName"], _listed(policy["PolicyDocument"]["Statement"])))
        for arn in role.get("ManagedPolicyArns") or []:
            name = resolve(arn)
            documents.append((str(name).rpartition("/")[2], _managed(str(name))))
        for logical, other in resources.items():
            if other.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and {"Ref": role_logical} in (
                (other.get("Properties") or {}).get("Roles") or []
            ):
                documents.append((logical, _listed(other["Properties"]["PolicyDocument"]["Statement"])))
        statements = tuple(
            iam.Statement.parse(resolve(statement), source=f"{policy} #{index}")
            for policy, listed in documents
            for index, statement in enumerate(listed, start=1)
        )
        roles[function] = iam.Role(function=function, name=f"emailops-{role_logical}", statements=statements)
    return roles


def _listed(statements: Any) -> list[dict[str, Any]]:
    return statements if isinstance(statements, list) else [statements]


# ---------------------------------------------------------------------- facts
def facts(stack: Stack) -> iam.Facts:
    """What ``local.iam`` needs about ``stack`` to map a call to its resources."""
    table_keys: dict[str, str] = {}
    index_keys: dict[str, str] = {}
    for logical, resource in stack.of_type("AWS::DynamoDB::Table").items():
        if logical not in stack.names:
            continue
        name = stack.names[logical]
        properties = resource["Properties"]
        table_keys[name] = _hash_key(properties["KeySchema"])
        for index in properties.get("GlobalSecondaryIndexes") or []:
            index_keys[f"{name}/{index['IndexName']}"] = _hash_key(index["KeySchema"])
    secrets = {}
    for logical in stack.of_type("AWS::SecretsManager::Secret"):
        arn = stack.arns.get(logical)
        if arn:
            # arn:...:secret:<name>-<6 random characters>
            secrets[arn.partition(":secret:")[2].rpartition("-")[0]] = arn
    return iam.Facts(
        region=stack.region,
        account=stack.account,
        table_keys=table_keys,
        index_keys=index_keys,
        secrets=secrets,
        # The identity the deployed account verifies (the template's SenderIdentity).
        ses_identities=(stack.parameters["SenderIdentity"],),
        ses_sandbox=stack.parameters.get("SesSandbox") == "true",
    )


def _hash_key(schema: list[dict[str, str]]) -> str:
    return next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")


def permissions(
    stack: Stack, *, template: Mapping[str, Any] | None = None, recorder: iam.Recorder | None = None
) -> iam.Permissions:
    """The check's configuration for ``stack``: its functions' roles (from
    ``template``, default the stack's own), its facts, and the recorder."""
    return iam.Permissions(roles=function_roles(stack, template), facts=facts(stack), recorder=recorder)
