"""Issue #8, item 12, end to end: each malformed request found by schemathesis
is a 4xx in the contract's envelope over real HTTP, never a 500 or a guess;
a token without exp is 401; each request is logged without its secrets."""

from __future__ import annotations

import json
import socket
import time
import uuid
from urllib.parse import urlsplit

import jwt
import pytest
import requests

from tests.e2e.stack_process import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

SECRET = "dev-secret"


def new_domain() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}.com"


def auth(domain: str, **claims) -> dict[str, str]:
    token = jwt.encode({"domains": domain, "exp": int(time.time()) + 3600, **claims}, SECRET, algorithm="HS256")
    return {"Authorization": f"Bearer {token}"}


def bulk(domain: str, recipient: str) -> dict:
    return {"domain": domain, "subject": "Hours", "body": "Open 9 to 17.", "extra_recipients": recipient}


def assert_envelope(response: requests.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    return str(error["message"])


def jobs_of(stack, domain: str) -> list[dict]:
    response = requests.get(f"{stack.api}/jobs", params={"domain": domain}, headers=auth(domain), timeout=10)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        # An array: the first element was queued and the rest dropped.
        (
            lambda d: json.dumps([bulk(d, "a@example.org"), bulk(d, "b@example.org")]).encode(),
            "application/json",
            "one JSON object",
        ),
        # Each of these was a 500.
        (lambda d: b'{"domain": "' + d.encode() + b'", "subject": "\xff\xfe"}', "application/json", "UTF-8"),
        (lambda d: json.dumps(bulk(d, "a@example.org")).encode(), "multipart/form-data", "must be JSON"),
        (lambda d: b"[" * 50_000 + b"]" * 50_000, "application/json", "nested"),
    ],
    ids=["array", "not-utf-8", "multipart-without-boundary", "deeply-nested"],
)
def test_a_malformed_bulk_body_is_400_and_queues_nothing(local_stack, body, content_type, says):
    domain = new_domain()
    response = requests.post(
        f"{local_stack.api}/jobs/bulk",
        data=body(domain),
        headers={**auth(domain), "Content-Type": content_type},
        timeout=30,
    )
    assert says in assert_envelope(response, 400, "invalid_request")
    assert jobs_of(local_stack, domain) == []


def test_a_token_without_exp_is_401(local_stack):
    token = jwt.encode({"domains": "acme.com"}, SECRET, algorithm="HS256")
    response = requests.get(f"{local_stack.api}/jobs", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert "exp" in assert_envelope(response, 401, "unauthorized")


def test_trace_is_a_404_in_the_envelope_not_an_html_page(local_stack):
    response = requests.request("TRACE", f"{local_stack.api}/jobs", timeout=10)
    assert_envelope(response, 404, "not_found")


def test_an_over_long_request_line_is_a_414_in_the_envelope(local_stack):
    address = urlsplit(local_stack.api)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(b"GET /jobs?cursor=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split()[1] == b"414"
    assert json.loads(body)["error"]["code"] == "request_uri_too_long"


def test_the_invoke_api_refuses_deeply_nested_json_as_lambda_does(local_stack):
    client = local_stack.lambda_client()
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName="EnqueueFunction", Payload=b"[" * 50_000 + b"]" * 50_000)


def test_each_request_is_logged_with_method_path_status_and_time_only(local_stack):
    domain = new_domain()
    marker = uuid.uuid4().hex
    headers = auth(domain)
    requests.get(f"{local_stack.api}/jobs/{marker}", params={"cursor": "SECRET-CURSOR"}, headers=headers, timeout=10)
    line = wait_until(
        lambda: next((ln for ln in local_stack.output().splitlines() if f"/jobs/{marker}" in ln), None),
        10,
        message="the request's log line",
    )
    assert line.endswith(" ms")
    assert f"GET /jobs/{marker} 404 " in line
    token = headers["Authorization"].removeprefix("Bearer ")
    for secret in ("SECRET-CURSOR", "cursor", token, domain):
        assert secret not in line
