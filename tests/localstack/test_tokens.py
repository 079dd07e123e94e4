"""Dev tokens: what the local JWT check lets in and what gets 401."""

from __future__ import annotations

import time

import jwt
import pytest

from local.template import default_parameters, load_template
from local.tokens import JwtRules, Unauthorized, bearer_token, mint, template_rules, verify

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

SECRET = "dev-secret"
RULES = JwtRules(issuer="https://auth.example.com/", audiences=("email-operations",))


def test_a_minted_token_verifies_and_carries_the_contract_claims():
    token = mint(["acme.com", "beta.io"], secret=SECRET, rules=RULES)

    claims = verify(token, secret=SECRET, rules=RULES)

    assert claims["domains"] == "acme.com beta.io"
    assert claims["sub"] == "local-admin"
    assert claims["iss"] == "https://auth.example.com/"
    assert claims["aud"] == "email-operations"
    assert claims["exp"] > claims["iat"] >= int(time.time()) - 5


def test_the_template_default_issuer_and_audience_are_used():
    template = load_template()
    params = default_parameters(template)

    rules = template_rules()

    assert rules.issuer == params["JwtIssuer"]
    assert rules.audiences == tuple(params["JwtAudience"].split(","))


def test_a_token_with_only_the_secret_domains_and_exp_is_accepted():
    # Tests outside the project mint their own tokens this way
    token = jwt.encode({"domains": "acme.com", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
    assert verify(token, secret=SECRET, rules=RULES)["domains"] == "acme.com"


EXP = int(time.time()) + 3600  # valid for the whole test run


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (jwt.encode({"domains": "a.com", "exp": EXP}, "another-secret", algorithm="HS256"), "signature"),
        (jwt.encode({"domains": "a.com", "exp": EXP}, SECRET, algorithm="HS512"), "HS256"),
        (jwt.encode({"domains": "a.com", "exp": int(time.time()) - 10}, SECRET, algorithm="HS256"), "expired"),
        (
            jwt.encode({"domains": "a.com", "exp": EXP, "nbf": int(time.time()) + 86400}, SECRET, algorithm="HS256"),
            "not valid yet",
        ),
        (jwt.encode({"domains": "a.com", "exp": EXP, "iss": "https://evil/"}, SECRET, algorithm="HS256"), "issuer"),
        (jwt.encode({"domains": "a.com", "exp": EXP, "aud": "other-api"}, SECRET, algorithm="HS256"), "audience"),
        (jwt.encode({"domains": "a.com", "exp": EXP}, None, algorithm="none"), "HS256"),
        ("not.a.token", "malformed"),
        # The HTTP API's JWT authorizer requires exp (issue #8, item 12): accepted before.
        (jwt.encode({"domains": "a.com"}, SECRET, algorithm="HS256"), "exp"),
        (jwt.encode({"domains": "a.com", "exp": "tomorrow"}, SECRET, algorithm="HS256"), "exp"),
    ],
    # Fixed ids: a token's text changes with the clock, and every test worker
    # (pytest-xdist) must collect the same ids.
    ids=[
        "another-secret",
        "hs512",
        "expired",
        "not-valid-yet",
        "other-issuer",
        "other-audience",
        "alg-none",
        "malformed",
        "no-exp",
        "exp-not-a-number",
    ],
)
def test_anything_else_is_refused(token, reason):
    with pytest.raises(Unauthorized, match=reason):
        verify(token, secret=SECRET, rules=RULES)


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   ", "Token abc"])
def test_a_missing_or_malformed_authorization_header_is_refused(header):
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_the_bearer_scheme_is_case_insensitive():
    assert bearer_token("bearer abc") == "abc"
