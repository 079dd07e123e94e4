"""The local HTTP API: routes, authorizer and CORS read from template.yaml."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from local.http_api import HttpApi, routes
from local.httpd import Request
from local.runtime import Invocation
from local.template import Stack, default_parameters, load_template
from local.tokens import mint, template_rules

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

SECRET = "dev-secret"


class RecordingFunction:
    """Stands in for a handler: answers 200 and keeps the events it got."""

    def __init__(self, name, *, fail=False):
        self.name = name
        self.events = []
        self.fail = fail

    def invoke(self, event):
        self.events.append(event)
        if self.fail:
            return Invocation({"errorMessage": "boom", "errorType": "RuntimeError"}, "r", failed=True)
        return Invocation({"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}, "r")


@pytest.fixture
def template_stack():
    template = load_template()
    return Stack(template=template, parameters=default_parameters(template))


@pytest.fixture
def functions(template_stack):
    return {name: RecordingFunction(name) for name in template_stack.functions()}


@pytest.fixture
def api(template_stack, functions):
    return HttpApi(template_stack, functions, secret=SECRET)


def _request(method, target, token=None, headers=(), body=b""):
    all_headers = [("Host", "127.0.0.1:3000"), *headers]
    if token is not None:
        all_headers.append(("Authorization", f"Bearer {token}"))
    return Request(method=method, target=target, headers=all_headers, body=body, client_ip="127.0.0.1")


def _template_http_events(stack):
    found = set()
    for function, resource in stack.functions().items():
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] == "HttpApi":
                found.add((f"{event['Properties']['Method'].upper()} {event['Properties']['Path']}", function))
    return found


def test_every_http_api_event_of_the_template_is_a_route(template_stack):
    assert {(r.route_key, r.function) for r in routes(template_stack)} == _template_http_events(template_stack)
    assert _template_http_events(template_stack), "the template has HttpApi events"


def test_a_literal_path_wins_over_a_path_variable(api, functions):
    token = mint(["acme.com"], secret=SECRET, rules=template_rules())

    # GET /jobs/{job_id} and POST /jobs/bulk share a prefix: the method and path decide
    response = api(_request("GET", "/jobs/01ABC?x=1", token))

    assert response.status == 200
    (event,) = [e for f in functions.values() for e in f.events]
    assert event["routeKey"] == "GET /jobs/{job_id}"
    assert event["pathParameters"] == {"job_id": "01ABC"}
    assert event["queryStringParameters"] == {"x": "1"}
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["domains"] == "acme.com"
    assert event["requestContext"]["requestId"] == dict(response.headers)["apigw-requestid"]


def test_an_unknown_route_is_404_before_any_authorization(api):
    for method, path in [("GET", "/nope"), ("DELETE", "/jobs"), ("GET", "/jobs/"), ("GET", "/jobs/a/b")]:
        response = api(_request(method, path))
        assert response.status == 404, (method, path)
        assert json.loads(response.body)["message"] == "Not Found"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Token abc",
        "Bearer " + jwt.encode({"domains": "acme.com"}, "wrong-secret", algorithm="HS256"),
        "Bearer " + jwt.encode({"domains": "acme.com", "exp": int(time.time()) - 1}, SECRET, algorithm="HS256"),
        "Bearer " + jwt.encode({"domains": "acme.com"}, SECRET, algorithm="HS384"),
        # No exp: the JWT authorizer requires one (issue #8, item 12); let in before.
        "Bearer " + jwt.encode({"domains": "acme.com"}, SECRET, algorithm="HS256"),
    ],
)
def test_a_refused_token_is_401_and_the_function_is_not_called(api, functions, authorization):
    headers = [("Authorization", authorization)] if authorization else []

    response = api(_request("GET", "/jobs", headers=headers))

    assert response.status == 401
    body = json.loads(response.body)
    assert body["message"] == "Unauthorized"
    assert body["error"]["code"] == "unauthorized"
    assert not any(f.events for f in functions.values())


def test_a_failing_function_is_a_500_without_details(template_stack):
    failing = {name: RecordingFunction(name, fail=True) for name in template_stack.functions()}
    api = HttpApi(template_stack, failing, secret=SECRET)

    response = api(_request("GET", "/jobs", mint(["acme.com"], secret=SECRET)))

    assert response.status == 500
    body = json.loads(response.body)
    assert body["message"] == "Internal Server Error"
    assert body["error"]["code"] == "internal_error"
    assert "boom" not in response.body.decode()


def test_cors_preflight_and_headers_follow_the_template(api, template_stack, functions):
    origin = template_stack.parameters["CorsAllowOrigin"]
    preflight = [("Origin", origin), ("Access-Control-Request-Method", "POST")]

    response = api(_request("OPTIONS", "/jobs/bulk", headers=preflight))

    assert response.status == 204
    headers = dict(response.headers)
    assert headers["access-control-allow-origin"] == origin
    assert "POST" in headers["access-control-allow-methods"]
    assert not any(f.events for f in functions.values())

    # An allowed origin on a real request gets the header; another origin does not
    token = mint(["acme.com"], secret=SECRET)
    allowed = api(_request("GET", "/jobs", token, headers=[("Origin", origin)]))
    other = api(_request("GET", "/jobs", token, headers=[("Origin", "https://evil.example")]))
    assert dict(allowed.headers)["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in dict(other.headers)
