"""``docs/openapi.json``: the HTTP API's OpenAPI document, generated from the
code (each API function's resolver, ``get_openapi_json_schema``) and merged
into one, with the page's routes (``GET /`` and its files, which no resolver
serves) and, from ``template.yaml``, which routes go without a JWT.

    python -m local.openapi --write   # regenerate docs/openapi.json
    python -m local.openapi --check   # exit 1 when docs/openapi.json is stale
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel

from common.adapters.api import documented_errors
from common.logic.page import INDEX, Asset, PageAssets
from common.models.listing import ListJobsQuery
from common.models.suppression_list import ListSuppressionsQuery
from local.http_api import routes
from local.template import Stack, default_parameters, load_template

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
API_FUNCTIONS = ("list_jobs", "bulk_queue", "suppressions", "job_actions", "unsubscribe")
WEB = ROOT / "web"
TITLE = "Email Operations API"
DESCRIPTION = (
    "The admin API behind the Email Operations page of Privas AI: the log of every email, "
    "one job with its body, Bulk Send and the suppression lists. Every route needs a JWT whose `domains` claim "
    "(space-separated, `*` for every domain) lists the domains the caller may act on, except those whose "
    "`security` is empty: one-click unsubscribe (a recipient's mail client) and the page with its files. "
    'Every error has the body {"error": {"code", "message"}}.'
)
# RFC 9110: a 204 has no content (Powertools documents the route's return type there).
NO_CONTENT = ("204", "304")
ERROR_ENVELOPE = {"$ref": "#/components/schemas/ErrorResponse"}
SECURITY_SCHEMES = {"dashboardJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
# Query models whose limits (enums, ranges, defaults) the parameters should show:
# Powertools lists a query model's fields with their base types only.
QUERY_MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("/jobs", "get"): ListJobsQuery,
    ("/suppressions", "get"): ListSuppressionsQuery,
}


def load_module(name: str) -> ModuleType:
    """``functions/<name>/app.py`` as a module (each module is ``app`` to Lambda,
    so it is loaded by path under a name of its own, once; the tests reuse it)."""
    module_name = f"functions_{name}_app"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
        if spec is None or spec.loader is None:
            raise ImportError(f"no handler at functions/{name}/app.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return module


def load_app(name: str) -> APIGatewayHttpResolver:
    """The resolver of ``functions/<name>/app.py``."""
    app = load_module(name).app
    if not isinstance(app, APIGatewayHttpResolver):
        raise TypeError(f"functions/{name}/app.py: app is not an APIGatewayHttpResolver")
    return app


def _version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def build() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name in API_FUNCTIONS:
        schema = json.loads(load_app(name).get_openapi_json_schema(title=TITLE, version=_version()))
        for path, operations in schema.get("paths", {}).items():
            paths.setdefault(path, {}).update(operations)
        schemas.update(schema.get("components", {}).get("schemas", {}))
    for path, operations in page_paths().items():
        paths.setdefault(path, {}).update(operations)
    open_routes = routes_without_jwt()
    for path, operations in paths.items():
        for method, operation in operations.items():
            # Powertools documents request validation as 422; this API answers 400.
            operation["responses"].pop("422", None)
            for status in NO_CONTENT:
                operation["responses"].get(status, {}).pop("content", None)
            if (path, method) in QUERY_MODELS:
                _describe_query(operation, QUERY_MODELS[(path, method)])
            if f"{method.upper()} {path}" in open_routes:
                operation["security"] = []  # the document's default is the JWT
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": _version(), "description": DESCRIPTION},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items())), "securitySchemes": SECURITY_SCHEMES},
        "security": [{"dashboardJwt": []}],
    }
    _drop_unreferenced(document["components"]["schemas"], document)
    return document


def routes_without_jwt() -> set[str]:
    """Route keys (``GET /``) that template.yaml serves without the JWT authorizer."""
    template = load_template()
    stack = Stack(template=template, parameters=default_parameters(template))
    return {route.route_key for route in routes(stack) if route.authorizer is None}


def page_paths() -> dict[str, Any]:
    """``GET /`` and ``GET /static/{file}`` (PageFunction, a plain handler, no
    resolver): the files are those of ``web/`` that the function serves."""
    assets = PageAssets(WEB)
    files = [name for name in assets.names if name != INDEX]
    text = {"schema": {"type": "string"}}

    def responses(description: str, media_types: list[str], errors: dict[int, str]) -> dict[str, Any]:
        answers: dict[str, Any] = {"200": {"description": description, "content": dict.fromkeys(media_types, text)}}
        for code, what in documented_errors(errors, needs_jwt=False).items():
            answers[str(code)] = {"description": what, "content": {"application/json": {"schema": ERROR_ENVELOPE}}}
        return answers

    return {
        "/": {
            "get": {
                "summary": "The Email Operations page",
                "operationId": "get_page__get",
                "responses": responses(
                    "the page (it asks for a token and sends it with every API call)",
                    [_media_type(assets.index())],
                    {},
                ),
            }
        },
        "/static/{file}": {
            "get": {
                "summary": "One of the page's files",
                "operationId": "get_page_file_static__file__get",
                "parameters": [
                    {"name": "file", "in": "path", "required": True, "schema": {"type": "string", "enum": files}}
                ],
                "responses": responses(
                    "the file: a script, the style sheet or the icon",
                    sorted({_media_type(assets.static(name)) for name in files}),
                    {404: "not_found: no such file"},
                ),
            }
        },
    }


def _media_type(asset: Asset | None) -> str:
    if asset is None:
        raise FileNotFoundError("a file PageAssets listed is not served")
    return asset.content_type.split(";", 1)[0].strip()


def _describe_query(operation: dict[str, Any], model: type[BaseModel]) -> None:
    fields = model.model_json_schema(ref_template="#/components/schemas/{model}")["properties"]
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter["name"] in fields:
            schema = dict(fields[parameter["name"]])
            schema.pop("title", None)
            parameter["description"] = schema.pop("description", parameter.get("description", ""))
            parameter["schema"] = schema


def _drop_unreferenced(schemas: dict[str, Any], document: dict[str, Any]) -> None:
    """Schemas nothing points at (Powertools' 422 models, query models spelled out above)."""
    while True:
        text = json.dumps(document)
        unused = [name for name in schemas if f'"#/components/schemas/{name}"' not in text]
        if not unused:
            return
        for name in unused:
            del schemas[name]


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate docs/openapi.json")
    mode.add_argument("--check", action="store_true", help="fail when docs/openapi.json is stale")
    args = parser.parse_args(argv)
    current = render()
    shown = DOCUMENT.relative_to(ROOT) if DOCUMENT.is_relative_to(ROOT) else DOCUMENT
    if args.write:
        DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
        DOCUMENT.write_text(current, encoding="utf-8")
        print(f"wrote {shown}")
        return 0
    if not DOCUMENT.exists() or DOCUMENT.read_text(encoding="utf-8") != current:
        print(f"{shown} is stale: run `make openapi` and commit it", file=sys.stderr)
        return 1
    print(f"{shown} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
