"""local/roles.py: each function's role as SAM deploys template.yaml, resolved
for a stack (no AWS: a stack of names only)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from local import iam, roles
from local.template import ACCOUNT, default_parameters, load_template

IDENTITY = f"arn:aws:ses:us-east-1:{ACCOUNT}:identity/example.com"


def role_of(function: str, **parameters: str) -> iam.Role:
    template = load_template()
    stack = roles.placeholder_stack(template, default_parameters(template, parameters))
    return roles.function_roles(stack)[function]


def allows(role: iam.Role, action: str, resource: str, **context: tuple[str, ...]) -> bool:
    return role.decide(iam.Request(action, resource, context)).allowed


def test_every_function_has_its_role_with_what_sam_attaches() -> None:
    template = load_template()
    stack = roles.placeholder_stack(template, default_parameters(template))
    found = roles.function_roles(stack)
    assert set(found) == set(stack.functions())
    for function, role in found.items():
        sources = {s.source.split(" #")[0] for s in role.statements}
        # Every function logs and traces (Tracing: Active); those with an SQS event source poll it
        assert {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"} <= sources, function
        polls = any(
            e["Type"] == "SQS" for e in (template["Resources"][function]["Properties"].get("Events") or {}).values()
        )
        assert ("AWSLambdaSQSQueueExecutionRole" in sources) == polls, function
    # The page reads nothing of AWS
    assert not any(s.source.startswith("PageFunctionRole") for s in found["PageFunction"].statements)


def test_statements_are_resolved_with_the_stacks_own_names() -> None:
    role = role_of("ListJobsFunction")
    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/emailops-JobsTable"
    assert allows(role, "dynamodb:Query", f"{table}/index/ByRecipientStatus")
    assert not allows(role, "dynamodb:Query", table)  # the indexes only: never a Query or Scan of the table
    assert not allows(role, "dynamodb:Scan", f"{table}/index/ByDomain")
    assert allows(role, "s3:GetObject", "arn:aws:s3:::emailops-bodiesbucket/acme.com/01J")


def test_the_sandbox_widens_sendemail_to_every_identity_and_from_address_stays_pinned() -> None:
    sandboxed, production = role_of("SendWorkerFunction"), role_of("SendWorkerFunction", SesSandbox="false")
    recipient = f"arn:aws:ses:us-east-1:{ACCOUNT}:identity/example.org"
    sender = {"ses:fromaddress": ("no-reply@example.com",)}
    assert allows(sandboxed, "ses:SendEmail", recipient, **sender)
    assert not allows(production, "ses:SendEmail", recipient, **sender)
    assert allows(production, "ses:SendEmail", IDENTITY, **sender)
    assert not allows(production, "ses:SendEmail", IDENTITY, **{"ses:fromaddress": ("ceo@example.com",)})


def test_the_ses_tenants_policy_belongs_to_the_worker_only_when_the_option_is_on() -> None:
    tenant = f"arn:aws:ses:us-east-1:{ACCOUNT}:tenant/acme_com/acme_com"
    assert not allows(role_of("SendWorkerFunction"), "ses:CreateTenant", tenant)
    with_tenants = role_of("SendWorkerFunction", SesTenants="Yes")
    assert allows(with_tenants, "ses:CreateTenant", tenant)
    assert any(s.source.startswith("SesTenantsPolicy") for s in with_tenants.statements)
    assert not allows(role_of("EnqueueFunction", SesTenants="Yes"), "ses:CreateTenant", tenant)


def test_a_managed_policy_whose_statements_are_unknown_is_refused() -> None:
    template: dict[str, Any] = copy.deepcopy(load_template())
    template["Resources"]["PageFunction"]["Properties"]["Policies"] = ["AmazonS3ReadOnlyAccess"]
    stack = roles.placeholder_stack(template, default_parameters(template))
    with pytest.raises(roles.RoleError, match="AmazonS3ReadOnlyAccess"):
        roles.function_roles(stack, template)


def test_a_sam_policy_template_is_expanded_as_sam_expands_it() -> None:
    template: dict[str, Any] = copy.deepcopy(load_template())
    template["Resources"]["PageFunction"]["Properties"]["Policies"] = [
        {"SQSSendMessagePolicy": {"QueueName": "emailops-BulkQueue"}}
    ]
    stack = roles.placeholder_stack(template, default_parameters(template))
    role = roles.function_roles(stack, template)["PageFunction"]
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:emailops-BulkQueue"
    assert allows(role, "sqs:SendMessage", queue)
    assert not allows(role, "sqs:ReceiveMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:emailops-PriorityQueue")


def test_the_translation_is_made_once_per_template_and_parameters() -> None:
    template = load_template()
    parameters = default_parameters(template)
    stack = roles.placeholder_stack(template, parameters)
    pseudo = roles.pseudo_parameters(stack)
    assert roles.translate(template, parameters, pseudo) is roles.translate(template, parameters, pseudo)
