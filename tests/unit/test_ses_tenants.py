"""SES tenants (SesTenants=Yes): the tenant name of a domain, the tenant made on
first use, and TenantName on every send. Moto has no tenants: botocore's
Stubber answers as SES does, and checks each request against SES's API model."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from common.adapters.mailer import Mailer
from common.adapters.tenants import RETRY_AFTER_SECONDS, TENANT_NAME, Tenants, tenant_name
from common.models.job import Bodies, Job, JobType, new_job_id
from local.template import load_template
from tests.helpers import Clock

IDENTITY = "arn:aws:ses:us-east-1:123456789012:identity/acme.com"
CONFIG_SET = "arn:aws:ses:us-east-1:123456789012:configuration-set/email-operations"


@pytest.fixture
def ses() -> Any:
    return boto3.client("sesv2", region_name="us-east-1")


def job(domain: str = "acme.com") -> Job:
    job_id, created_at = new_job_id()
    return Job(
        job_id=job_id,
        created_at=created_at,
        domain=domain,
        type=JobType.MANUAL,
        recipient="visitor@example.org",
        subject="News",
        body=job_id,
    )


def expect_creation(stubber: Stubber, name: str, *, exists: bool = False) -> None:
    if exists:
        stubber.add_client_error(
            "create_tenant", "AlreadyExistsException", http_status_code=400, expected_params={"TenantName": name}
        )
    else:
        stubber.add_response("create_tenant", {"TenantName": name}, {"TenantName": name})
    for arn in (IDENTITY, CONFIG_SET):
        if exists:
            stubber.add_client_error(
                "create_tenant_resource_association",
                "AlreadyExistsException",
                http_status_code=400,
                expected_params={"TenantName": name, "ResourceArn": arn},
            )
        else:
            stubber.add_response("create_tenant_resource_association", {}, {"TenantName": name, "ResourceArn": arn})


def expect_send(stubber: Stubber, tenant: str | None) -> None:
    expected: dict[str, Any] = {
        "FromEmailAddress": "no-reply@acme.com",
        "Destination": ANY,
        "Content": ANY,
        "ConfigurationSetName": "email-operations",
        "EmailTags": ANY,
    }
    if tenant is not None:
        expected["TenantName"] = tenant
    stubber.add_response("send_email", {"MessageId": "m-1"}, expected)


# ------------------------------------------------------------------ names
@pytest.mark.parametrize(
    ("domain", "name"),
    [("acme.com", "acme_com"), ("mail.beta-io.co.uk", "mail_beta-io_co_uk"), ("x1.io", "x1_io")],
)
def test_a_domain_s_tenant_name_is_its_dots_as_underscores(domain: str, name: str) -> None:
    assert tenant_name(domain) == name


def test_a_long_domain_s_tenant_name_fits_64_characters_and_stays_distinct() -> None:
    first = ".".join(["a" * 63, "b" * 63, "example"])
    second = ".".join(["a" * 63, "b" * 63, "example2"])
    names = {tenant_name(first), tenant_name(second)}
    assert len(names) == 2
    for name in names:
        assert len(name) == 64
        assert TENANT_NAME.fullmatch(name)


def test_every_name_has_only_what_ses_allows() -> None:
    for domain in ("a-b.c", "xn--bcher-kva.example", "0.io"):
        assert TENANT_NAME.fullmatch(tenant_name(domain))


# ------------------------------------------------------------------ made on first use
def test_the_first_send_of_a_domain_makes_its_tenant_then_every_send_names_it(ses: Any) -> None:
    tenants = Tenants(ses, identity_arn=IDENTITY, configuration_set_arn=CONFIG_SET)
    mailer = Mailer(ses, sender="no-reply@acme.com", configuration_set="email-operations", tenants=tenants)
    with Stubber(ses) as stubber:
        # Given acme.com's first email: CreateTenant, the identity and configuration set associated, then the send
        expect_creation(stubber, "acme_com")
        expect_send(stubber, "acme_com")
        # then its next emails: the send alone, under the same tenant
        expect_send(stubber, "acme_com")
        expect_send(stubber, "acme_com")
        for _ in range(3):
            assert mailer.send(job(), Bodies(text="Hello")) == "m-1"
        stubber.assert_no_pending_responses()


def test_each_domain_has_its_own_tenant(ses: Any) -> None:
    tenants = Tenants(ses, identity_arn=IDENTITY, configuration_set_arn=CONFIG_SET)
    mailer = Mailer(ses, sender="no-reply@acme.com", configuration_set="email-operations", tenants=tenants)
    with Stubber(ses) as stubber:
        expect_creation(stubber, "acme_com")
        expect_send(stubber, "acme_com")
        expect_creation(stubber, "beta_io")
        expect_send(stubber, "beta_io")
        mailer.send(job("acme.com"), Bodies(text="Hello"))
        mailer.send(job("beta.io"), Bodies(text="Hello"))
        stubber.assert_no_pending_responses()


def test_a_tenant_made_by_another_environment_is_fine(ses: Any) -> None:
    tenants = Tenants(ses, identity_arn=IDENTITY, configuration_set_arn=CONFIG_SET)
    with Stubber(ses) as stubber:
        expect_creation(stubber, "acme_com", exists=True)
        assert tenants.for_domain("acme.com") == "acme_com"
        assert tenants.for_domain("acme.com") == "acme_com"  # cached: no more calls
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["LimitExceededException", "TooManyRequestsException", "AccessDeniedException"])
def test_a_tenant_that_cannot_be_made_sends_without_one_and_is_tried_again_later(ses: Any, code: str, caplog) -> None:
    clock = Clock()
    tenants = Tenants(ses, identity_arn=IDENTITY, configuration_set_arn=CONFIG_SET, clock=clock)
    mailer = Mailer(ses, sender="no-reply@acme.com", configuration_set="email-operations", tenants=tenants)
    with Stubber(ses) as stubber:
        # The first send: CreateTenant fails, the email goes out without a tenant
        stubber.add_client_error(
            "create_tenant",
            code,
            service_message="User arn:aws:iam::123456789012:role/x is not authorized",
            http_status_code=400,
        )
        expect_send(stubber, None)
        # Within RETRY_AFTER_SECONDS: not tried again
        expect_send(stubber, None)
        # After it: made, and named
        expect_creation(stubber, "acme_com")
        expect_send(stubber, "acme_com")

        mailer.send(job(), Bodies(text="Hello"))
        clock.now += RETRY_AFTER_SECONDS - 1
        mailer.send(job(), Bodies(text="Hello"))
        clock.now += 2
        mailer.send(job(), Bodies(text="Hello"))
        stubber.assert_no_pending_responses()
    # The log names the code, never SES's words (an ARN, an account id)
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert code in logged
    assert "123456789012" not in logged and "arn:" not in logged


def test_without_the_option_no_tenant_is_named(ses: Any) -> None:
    mailer = Mailer(ses, sender="no-reply@acme.com", configuration_set="email-operations")
    with Stubber(ses) as stubber:
        expect_send(stubber, None)
        mailer.send(job(), Bodies(text="Hello"))
        stubber.assert_no_pending_responses()


# ------------------------------------------------------------------ the template
def test_the_option_defaults_to_no_and_its_iam_exists_only_when_on() -> None:
    template = load_template()
    assert template["Parameters"]["SesTenants"]["Default"] == "No"
    assert template["Parameters"]["SesTenants"]["AllowedValues"] == ["Yes", "No"]
    assert template["Conditions"]["UseSesTenants"] == {"Fn::Equals": [{"Ref": "SesTenants"}, "Yes"]}
    policy = template["Resources"]["SesTenantsPolicy"]
    assert policy["Type"] == "AWS::IAM::Policy"
    assert policy["Condition"] == "UseSesTenants"
    assert policy["Properties"]["Roles"] == [{"Ref": "SendWorkerFunctionRole"}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = sorted(a for s in statements for a in s["Action"])
    assert actions == ["ses:CreateTenant", "ses:CreateTenantResourceAssociation", "ses:SendEmail"]
    (send,) = [s for s in statements if s["Action"] == ["ses:SendEmail"]]
    assert send["Resource"]["Fn::Sub"].endswith(":tenant/*")
    assert send["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "SenderAddress"}}}
    variables = template["Resources"]["SendWorkerFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SES_TENANTS"] == {"Ref": "SesTenants"}
    # No other resource of the template names the condition
    assert [k for k, r in template["Resources"].items() if r.get("Condition") == "UseSesTenants"] == [
        "SesTenantsPolicy"
    ]
