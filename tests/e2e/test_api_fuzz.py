"""schemathesis against the running local stack, from docs/openapi.json.

A bounded, reproducible run (a fixed seed, deterministic generation, a fixed
number of examples per operation; well under a minute on two cores) of
valid and invalid requests for every operation. Each answer must be:

- never a 5xx (the 57 of issue #8, item 12, were all 5xx);
- a status the document lists for the operation, with the content type and
  body schema it documents;
- an invalid request refused (4xx), never accepted as a guess;
- every 4xx in the contract's envelope, ``{"error": {"code", "message"}}``.

``make fuzz`` runs only this file; ``make test`` runs it after the rest.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from schemathesis import CheckContext, Response
from schemathesis.generation.case import Case

from local.openapi import DOCUMENT
from local.tokens import DEFAULT_SECRET, mint, template_rules

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

EXAMPLES_PER_OPERATION = 250
REFUSALS = [400, 401, 403, 404, 405, 409, 413, 414, 415, 422]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261201,
        "generation": {
            "mode": "all",  # valid and invalid requests
            "max-examples": EXAMPLES_PER_OPERATION,
            "deterministic": True,
            "database": "none",  # nothing remembered between runs: the same requests each time
            # Unknown query parameters are ignored on purpose (docs/adr/0015-api-reads-request-bodies.md), not refused.
            "allow-extra-parameters": False,
        },
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "negative_data_rejection": {"enabled": True, "expected-statuses": REFUSALS},
        },
    }
)
schema = schemathesis.openapi.from_path(DOCUMENT, config=CONFIG)
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


@schemathesis.check
def error_envelope(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every 4xx and 5xx has the contract's body, whatever answered it."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert isinstance(body, dict), f"{response.status_code}: the body is not a JSON object"
    error = body.get("error")
    assert isinstance(error, dict), f"{response.status_code}: no error object"
    assert isinstance(error.get("code"), str) and SNAKE_CASE.match(error["code"]), f"code {error.get('code')!r}"
    assert isinstance(error.get("message"), str) and error["message"], "no message"
    assert "Traceback" not in response.text
    return True


@pytest.fixture(scope="module")
def authorization() -> dict[str, str]:
    """A valid token for every domain, as ``make token DOMAINS="*"`` mints it."""
    return {"Authorization": f"Bearer {mint(['*'], secret=DEFAULT_SECRET, rules=template_rules())}"}


@schema.parametrize()
def test_the_api_answers_every_generated_request_as_documented(case: Case, local_stack, authorization) -> None:
    case.call_and_validate(base_url=local_stack.api, headers=authorization, additional_checks=[error_envelope])
