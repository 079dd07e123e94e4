"""Dev JWTs: minted with a shared secret (HS256), checked the way the HTTP
API's JWT authorizer checks the dashboard's tokens.

In AWS the authorizer verifies the identity provider's RS256 signature and
requires ``exp`` and the template's issuer and audience. Locally the
signature is HS256 with ``EMAILOPS_DEV_JWT_SECRET`` and ``exp`` is required
as in AWS; ``iss`` and ``aud`` (or ``client_id``) are checked when the token
carries them and accepted when it does not, so a client that mints its own
token with only the secret, a ``domains`` claim and ``exp`` is let in
(docs/local-stack.md).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from local.template import Stack, default_parameters, load_template

ALGORITHM = "HS256"
DEFAULT_SECRET = "dev-secret"  # noqa: S105 - the contract's documented dev secret
DOMAINS_CLAIM = "domains"
# The contract's dev secret is short on purpose (it is not a secret at all).
warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)
DEFAULT_TTL_SECONDS = 12 * 3600


class Unauthorized(Exception):
    """The token is missing or not acceptable; the message says why."""


@dataclass(frozen=True)
class JwtRules:
    """What a JWT authorizer of the template accepts."""

    issuer: str | None = None
    audiences: tuple[str, ...] = ()
    identity_source: str = "$request.header.Authorization"
    scopes: tuple[str, ...] = field(default=())


def mint(
    domains: list[str],
    *,
    secret: str = DEFAULT_SECRET,
    rules: JwtRules | None = None,
    subject: str = "local-admin",
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
) -> str:
    """A token for ``domains`` (``*`` = every domain), with the template's
    issuer and first audience when it has a JWT authorizer."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {DOMAINS_CLAIM: " ".join(domains), "sub": subject, "iat": issued}
    claims["exp"] = issued + ttl_seconds
    if rules and rules.issuer:
        claims["iss"] = rules.issuer
    if rules and rules.audiences:
        claims["aud"] = rules.audiences[0]
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header is not 'Bearer <token>'")
    return token.strip()


def verify(token: str, *, secret: str, rules: JwtRules) -> dict[str, Any]:
    """The token's claims, or ``Unauthorized`` (bad signature, another
    algorithm, no ``exp``, expired, not yet valid, wrong issuer or audience)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"verify_aud": False, "verify_iss": False, "require": ["exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise Unauthorized("the token is not valid yet") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise Unauthorized(f"the token is not signed with {ALGORITHM}") from exc
    except jwt.InvalidSignatureError as exc:
        raise Unauthorized("the token's signature does not match") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise Unauthorized(f"the token has no {exc.claim} claim") from exc
    except jwt.InvalidTokenError as exc:
        # PyJWT's reason names the part (header, payload, a claim), never the token's text.
        raise Unauthorized(f"the token is malformed: {exc}") from exc
    if "iss" in claims and rules.issuer and claims["iss"] != rules.issuer:
        raise Unauthorized("the token's issuer is not the one configured")
    audiences = _audiences(claims)
    if audiences is not None and rules.audiences and not set(audiences) & set(rules.audiences):
        raise Unauthorized("the token's audience is not one configured")
    return claims


def _audiences(claims: dict[str, Any]) -> list[str] | None:
    for name in ("aud", "client_id"):
        value = claims.get(name)
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [str(v) for v in value]
    return None


def jwt_rules(stack: Stack) -> JwtRules:
    """The JWT authorizer of the template's HTTP API (the first one, when
    several), resolved with the stack's parameters; empty rules when none."""
    for api in http_api_definitions(stack).values():
        auth = api.get("Auth") or {}
        for authorizer in (auth.get("Authorizers") or {}).values():
            config = authorizer.get("JwtConfiguration")
            if config is None:
                continue
            return rules_from_authorizer(stack, authorizer)
    return JwtRules()


def rules_from_authorizer(stack: Stack, authorizer: dict[str, Any]) -> JwtRules:
    config = stack.resolve(authorizer.get("JwtConfiguration") or {})
    audience = config.get("audience") or []
    if isinstance(audience, str):
        audience = [a for a in audience.split(",") if a]
    issuer = config.get("issuer")
    source = stack.resolve(authorizer.get("IdentitySource", "$request.header.Authorization"))
    return JwtRules(
        issuer=str(issuer) if issuer else None,
        audiences=tuple(str(a) for a in audience),
        identity_source=str(source),
    )


def http_api_definitions(stack: Stack) -> dict[str, dict[str, Any]]:
    """Each ``AWS::Serverless::HttpApi``'s properties merged over
    ``Globals.HttpApi`` (as SAM merges them), plus SAM's implicit API
    (``ServerlessHttpApi``) when an ``HttpApi`` event names no ``ApiId``."""
    globals_api: dict[str, Any] = stack.template.get("Globals", {}).get("HttpApi", {})
    apis = {
        logical: {**globals_api, **(resource.get("Properties") or {})}
        for logical, resource in stack.of_type("AWS::Serverless::HttpApi").items()
    }
    for function in stack.functions().values():
        for event in (function.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") == "HttpApi" and "ApiId" not in (event.get("Properties") or {}):
                apis.setdefault("ServerlessHttpApi", dict(globals_api))
    return apis


def template_rules(overrides: dict[str, str] | None = None) -> JwtRules:
    """The JWT rules of ``template.yaml`` with its default parameters
    (no AWS needed: only parameters are resolved)."""
    template = load_template()
    return jwt_rules(Stack(template=template, parameters=default_parameters(template, overrides)))
