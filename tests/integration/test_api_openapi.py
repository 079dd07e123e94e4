"""docs/openapi.json is generated from the code and must match it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from common.logic.page import PageAssets
from common.models.job import Domain
from local import openapi
from local.http_api import routes
from local.template import Stack, default_parameters, load_template


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
        "/jobs/test",
        "/bulks/{bulk_id}",
        "/bulks",
        "/domains/{domain}/health",
        "/audit",
        "/stats",
        "/suppressions",
        "/suppressions/{domain}/{email}",
        "/jobs/{job_id}/cancel",
        "/bulks/{bulk_id}/cancel",
        "/jobs/{job_id}/retry",
        "/unsubscribe/{token}",
        "/",
        "/static/{file}",
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
    for listed in ("/bulks", "/audit"):
        assert set(paths[listed]["get"]["responses"]) == {"200", "400", "401", "403", "414", "500"}
        parameters = {p["name"]: p for p in paths[listed]["get"]["parameters"]}
        assert set(parameters) == {"domain", "limit", "cursor"}
        assert parameters["domain"]["required"] is True
    assert set(paths["/domains/{domain}/health"]["get"]["responses"]) == {"200", "400", "401", "403", "414", "500"}
    health = document["components"]["schemas"]["DomainHealth"]["properties"]
    assert {"sent", "bounced", "complained", "bounce_rate", "complaint_rate", "paused", "message"} <= set(health)
    filters = {p["name"] for p in paths["/jobs"]["get"]["parameters"]}
    assert {"recipient", "bulk_id", "created_after", "created_before"} <= filters
    assert set(paths["/jobs"]["get"]["responses"]) == {"200", "400", "401", "403", "414", "500"}
    assert set(paths["/jobs/{job_id}"]["get"]["responses"]) == {"200", "401", "403", "404", "414", "500"}
    assert set(paths["/jobs/bulk"]["post"]["responses"]) == {"202", "400", "401", "403", "409", "413", "414", "500"}
    assert set(paths["/jobs/test"]["post"]["responses"]) == {"202", "400", "401", "403", "409", "413", "414", "500"}
    bulk_fields = document["components"]["schemas"]["BulkSendRequest"]["properties"]
    assert bulk_fields["send_at"]["anyOf"][0]["format"] == "date-time"
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


def template_routes() -> dict[str, str | None]:
    """Every route of template.yaml's HTTP API, by route key, with its authorizer (None: no JWT)."""
    template = load_template()
    stack = Stack(template=template, parameters=default_parameters(template))
    return {route.route_key: route.authorizer for route in routes(stack)}


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def test_the_document_is_whole_every_route_of_the_template_and_who_may_call_it() -> None:
    document = json.loads(openapi.render())
    documented = operations(document)
    served = template_routes()
    assert set(documented) == set(served)
    # The JWT by default; an empty security where the template has no authorizer
    assert document["security"] == [{"dashboardJwt": []}]
    open_routes = {key for key, authorizer in served.items() if authorizer is None}
    assert open_routes == {"GET /unsubscribe/{token}", "POST /unsubscribe/{token}", "GET /", "GET /static/{file}"}
    for key, operation in documented.items():
        if key in open_routes:
            assert operation["security"] == [], key
            # only the JWT authorizer answers these
            assert not {"401", "403"} & set(operation["responses"]), key
        else:
            assert "security" not in operation, key
            assert {"401", "403"} <= set(operation["responses"]), key


def test_a_204_is_documented_without_content() -> None:
    document = json.loads(openapi.render())
    no_content = [
        (key, status, answer)
        for key, operation in operations(document).items()
        for status, answer in operation["responses"].items()
        if status == "204"
    ]
    assert [key for key, _, _ in no_content] == ["DELETE /suppressions/{domain}/{email}"]
    for _, _, answer in no_content:
        assert "content" not in answer
        assert answer["description"]


def test_one_click_unsubscribe_is_documented_as_mail_clients_send_it() -> None:
    documented = operations(json.loads(openapi.render()))
    post = documented["POST /unsubscribe/{token}"]
    [token] = post["parameters"]
    assert (token["name"], token["in"], token["required"]) == ("token", "path", True)
    body = post["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {"application/x-www-form-urlencoded"}
    form = body["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["List-Unsubscribe"]
    assert form["properties"]["List-Unsubscribe"]["enum"] == ["One-Click"]
    assert set(post["responses"]) == {"200", "400", "404", "414", "500"}
    get = documented["GET /unsubscribe/{token}"]
    assert "requestBody" not in get
    assert set(get["responses"]) == {"200", "404", "414", "500"}
    for operation in (get, post):
        assert set(operation["responses"]["200"]["content"]) == {"text/html"}
        assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }


def test_the_page_and_exactly_the_files_it_serves_are_documented() -> None:
    documented = operations(json.loads(openapi.render()))
    assert set(documented["GET /"]["responses"]["200"]["content"]) == {"text/html"}
    static = documented["GET /static/{file}"]
    [file] = static["parameters"]
    assets = PageAssets(openapi.WEB)
    served = [name for name in file["schema"]["enum"] if assets.static(name) is not None]
    assert served == file["schema"]["enum"]
    assert set(served) == set(assets.names) - {"index.html"}
    media_types = {assets.static(name).content_type.split(";")[0] for name in served}  # type: ignore[union-attr]
    assert set(static["responses"]["200"]["content"]) == media_types
    assert {"text/javascript", "text/css"} <= media_types
    assert set(static["responses"]) == {"200", "404", "414", "500"}
