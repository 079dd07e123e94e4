"""docs/openapi.json is generated from the code and must match it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from common.models.job import Domain
from local import openapi


def test_the_checked_in_document_matches_the_code() -> None:
    assert openapi.DOCUMENT.read_text(encoding="utf-8") == openapi.render(), "run `make openapi`"


def test_the_document_holds_the_routes_and_their_errors() -> None:
    document = json.loads(openapi.render())
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert set(paths) == {
        "/jobs",
        "/jobs/{job_id}",
        "/jobs/bulk",
        "/bulks/{bulk_id}",
        "/suppressions",
        "/suppressions/{domain}/{email}",
        "/jobs/{job_id}/cancel",
        "/bulks/{bulk_id}/cancel",
        "/jobs/{job_id}/retry",
    }
    assert set(paths["/suppressions"]["get"]["responses"]) == {"200", "400", "401", "403", "414", "500"}
    assert set(paths["/suppressions/{domain}/{email}"]) == {"put", "delete"}
    assert set(paths["/suppressions/{domain}/{email}"]["delete"]["responses"]) == {
        *("204", "400", "401", "403", "404", "414", "500")
    }
    [domain] = [p for p in paths["/suppressions"]["get"]["parameters"] if p["name"] == "domain"]
    assert domain["required"] is True
    assert set(paths["/jobs/{job_id}/cancel"]["post"]["responses"]) == {"200", "401", "403", "404", "409", "414", "500"}
    assert set(paths["/bulks/{bulk_id}/cancel"]["post"]["responses"]) == {
        "200",
        "401",
        "403",
        "404",
        "414",
        "500",
        "503",
    }
    retry = paths["/jobs/{job_id}/retry"]["post"]
    assert set(retry["responses"]) == {"202", "400", "401", "403", "404", "409", "414", "500"}
    [key] = [p for p in retry["parameters"] if p["in"] == "header"]
    assert (key["name"].lower(), key.get("required", False)) == ("idempotency-key", False)
    assert set(paths["/bulks/{bulk_id}"]["get"]["responses"]) == {"200", "401", "403", "404", "414", "500"}
    filters = {p["name"] for p in paths["/jobs"]["get"]["parameters"]}
    assert {"recipient", "bulk_id", "created_after", "created_before"} <= filters
    assert set(paths["/jobs"]["get"]["responses"]) == {"200", "400", "401", "403", "414", "500"}
    assert set(paths["/jobs/{job_id}"]["get"]["responses"]) == {"200", "401", "403", "404", "414", "500"}
    assert set(paths["/jobs/bulk"]["post"]["responses"]) == {"202", "400", "401", "403", "409", "413", "414", "500"}
    for operations in paths.values():
        for operation in operations.values():
            assert "422" not in operation["responses"]
    limit = next(p for p in paths["/jobs"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"], limit["schema"]["default"]) == (1, 100, 50)
    header = paths["/jobs/bulk"]["post"]["parameters"][0]
    assert (header["in"], header["name"].lower()) == ("header", "idempotency-key")
    assert document["components"]["securitySchemes"]["dashboardJwt"]["scheme"] == "bearer"
    assert set(document["components"]["schemas"]["ErrorResponse"]["properties"]) == {"error"}


def test_check_fails_on_a_stale_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text(openapi.render().replace("The log", "The old log"), encoding="utf-8")
    monkeypatch.setattr(openapi, "DOCUMENT", stale)
    assert openapi.main(["--check"]) == 1
    assert openapi.main(["--write"]) == 0
    assert openapi.main(["--check"]) == 0


@pytest.mark.parametrize(
    "value",
    [
        *("acme.com", "ACME.Com", "a.b", "1.2", "x" * 63 + ".com", "x" * 64 + ".com"),
        *("a-.com", "-a.com", "a..com", "acme", "a_b.com", "acme.com.", "acme com", ""),
    ],
)
def test_domain_is_documented_with_the_host_name_pattern_the_code_applies(value: str) -> None:
    document = json.loads(openapi.render())
    body = document["components"]["schemas"]["BulkSendRequest"]["properties"]["domain"]
    [query] = [p for p in document["paths"]["/jobs"]["get"]["parameters"] if p["name"] == "domain"]
    [documented] = [s for s in query["schema"]["anyOf"] if s.get("type") == "string"]
    assert body["pattern"] == documented["pattern"]
    assert body["maxLength"] == documented["maxLength"] == 253
    try:
        TypeAdapter(Domain).validate_python(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert bool(re.fullmatch(body["pattern"], value)) == accepted
