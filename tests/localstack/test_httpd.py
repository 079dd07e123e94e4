"""The local stack's HTTP servers over real sockets: whatever they answer
themselves is JSON in the contract's envelope (never http.server's HTML), and
every request is logged without its query string, token or body."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator

import pytest
import requests

from local import httpd
from local.http_api import HttpApi, Route
from local.lambda_api import MAX_PAYLOAD_DEPTH, LambdaApi
from local.runtime import Invocation
from local.template import Stack, default_parameters, load_template
from local.tokens import mint

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

SECRET = "dev-secret"


class Echo:
    """An app that answers 200 with the size of the body it got, or raises."""

    def __call__(self, request: httpd.Request) -> httpd.Response:
        if request.target.startswith("/raise"):
            raise RuntimeError("Traceback: secret internals")
        return httpd.Response(
            200, json.dumps({"got": len(request.body)}).encode(), [("content-type", "application/json")]
        )


def _serve(app: httpd.App) -> Iterator[str]:
    server = httpd.bind(0, "EMAILOPS_API_PORT", app, "test")
    httpd.serve_in_background(server, "test-httpd")
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def echo() -> Iterator[str]:
    yield from _serve(Echo())


def raw_exchange(address: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as it is and read one response (the server closes after errors)."""
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(status_line.split()[1]), headers, body


def assert_envelope(status: int, headers: dict[str, str], body: bytes, code: str) -> dict:
    assert headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert answer["error"]["code"] == code
    assert answer["error"]["message"]
    assert "Traceback" not in body.decode()
    assert "<" not in body.decode()  # no HTML
    return answer


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        # http.server's HTML page before:
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "request_uri_too_long"),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"),
        (b"NOT A REQUEST LINE AT ALL\r\n\r\n", 400, "invalid_request"),
        (b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431, "request_header_fields_too_large"),
        # The connection was dropped without an answer before (ValueError in int()):
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400, "invalid_request"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400, "invalid_request"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 413, "body_too_large"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n", 400, "invalid_request"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
            400,
            "invalid_request",
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nA00001\r\n", 413, "body_too_large"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented"),
    ],
    ids=[
        "long-request-line",
        "bad-version",
        "bad-request-line",
        "long-header",
        "length-not-a-number",
        "negative-length",
        "length-over-limit",
        "chunk-size-unreadable",
        "chunk-longer-than-its-size",
        "chunks-over-limit",
        "coding-not-chunked",
    ],
)
def test_what_the_server_refuses_itself_is_json_in_the_envelope(echo, request_bytes, status, code):
    got_status, headers, body = raw_exchange(echo, request_bytes)
    assert got_status == status
    assert_envelope(got_status, headers, body, code)


def test_an_app_that_raises_is_a_500_in_the_envelope_without_details(echo):
    response = requests.get(f"http://{echo}/raise", timeout=10)
    assert response.status_code == 500
    assert_envelope(500, {k.lower(): v for k, v in response.headers.items()}, response.content, "internal_error")


def test_a_body_is_still_read_by_its_length(echo):
    response = requests.post(f"http://{echo}/", data=b"x" * 100_000, timeout=10)
    assert response.json() == {"got": 100_000}


def test_a_chunked_body_is_read_whole_as_api_gateway_reads_it(echo):
    """What requests sends for a body it cannot measure (an iterator): chunks, and trailers after them."""
    response = requests.post(f"http://{echo}/", data=iter([b"x" * 70_000, b"", b"y" * 30_000]), timeout=10)
    assert response.json() == {"got": 100_000}
    status, _, body = raw_exchange(
        echo, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
    )
    assert (status, json.loads(body)) == (200, {"got": 3})
    empty = requests.post(f"http://{echo}/", data=iter([]), timeout=10)
    assert empty.json() == {"got": 0}


def test_every_request_is_logged_without_query_token_or_body(echo, caplog):
    caplog.set_level(logging.INFO, logger="local.httpd")
    requests.post(
        f"http://{echo}/jobs/bulk?cursor=SECRET-CURSOR",
        headers={"Authorization": "Bearer SECRET-TOKEN"},
        data=b'{"body": "SECRET-BODY"}',
        timeout=10,
    )
    raw_exchange(echo, b"GET /jobs?x=SECRET-QUERY HTTP/9.9\r\nHost: x\r\n\r\n")
    raw_exchange(echo, b"GET /" + b"a" * 70_000 + b"?x=SECRET-QUERY HTTP/1.1\r\nHost: x\r\n\r\n")
    lines = [record.getMessage() for record in caplog.records if record.name == "local.httpd"]
    assert len(lines) == 3, lines
    post, refused, too_long = lines
    assert post.startswith("POST /jobs/bulk 200 ") and post.endswith(" ms")
    assert refused.startswith("GET /jobs 505 ")
    assert too_long.startswith("GET /aaaa") and " 414 " in too_long and len(too_long) < 300
    for line in lines:
        assert "SECRET" not in line


# ------------------------------------------------------------------ the HTTP API
@pytest.fixture
def template_stack() -> Stack:
    template = load_template()
    return Stack(template=template, parameters=default_parameters(template))


class Answering:
    def __init__(self, name: str) -> None:
        self.name = name

    def invoke(self, event):
        return Invocation({"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}, "r")


@pytest.fixture
def http_api(template_stack) -> Iterator[str]:
    functions = {name: Answering(name) for name in template_stack.functions()}
    yield from _serve(HttpApi(template_stack, functions, secret=SECRET))


def test_the_http_api_logs_method_path_status_and_time(http_api, caplog):
    caplog.set_level(logging.INFO, logger="local.httpd")
    token = mint(["acme.com"], secret=SECRET)
    authorization = {"Authorization": f"Bearer {token}"}
    requests.get(f"http://{http_api}/jobs/01ABC?domain=acme.com", headers=authorization, timeout=10)
    requests.get(f"http://{http_api}/jobs", timeout=10)  # no token
    requests.get(f"http://{http_api}/nope", timeout=10)
    lines = [record.getMessage() for record in caplog.records if record.name == "local.httpd"]
    assert [line.rsplit(" ", 2)[0] for line in lines] == ["GET /jobs/01ABC 200", "GET /jobs 401", "GET /nope 404"]
    assert all(line.endswith(" ms") for line in lines)
    assert not any(token in line or "acme.com" in line for line in lines)


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "QUERY", "BREW", "PUT", "DELETE", "PATCH"])
def test_a_method_without_a_route_is_404_in_the_envelope(http_api, method):
    # TRACE, QUERY and made-up methods were http.server's HTML 501 before.
    response = requests.request(method, f"http://{http_api}/jobs", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.headers["content-type"] == "application/json"


def test_a_path_variable_named_like_a_token_is_not_logged(template_stack):
    api = next(
        iter(HttpApi(template_stack, {n: Answering(n) for n in template_stack.functions()}, secret=SECRET).routes)
    ).api
    unsubscribe = Route(api=api, method="POST", path="/unsubscribe/{token}", function="F", authorizer=None)
    greedy = Route(api=api, method="GET", path="/files/{secret_key+}", function="F", authorizer=None)
    job = Route(api=api, method="GET", path="/jobs/{job_id}", function="F", authorizer=None)
    assert unsubscribe.logged_path("/unsubscribe/eyJTOKEN") == "/unsubscribe/{token}"
    assert greedy.logged_path("/files/a/b") == "/files/{secret_key+}"
    assert job.logged_path("/jobs/01ABC") == "/jobs/01ABC"


# ------------------------------------------------------------------ the Lambda Invoke API
class Recording:
    name = "EnqueueFunction"

    def __init__(self) -> None:
        self.events: list = []

    def invoke(self, event):
        self.events.append(event)
        return Invocation({"ok": True}, "r")


@pytest.fixture
def invoke_api() -> Iterator[tuple[str, Recording]]:
    function = Recording()
    for address in _serve(LambdaApi({"EnqueueFunction": function})):
        yield address, function


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 100_000 + b"]" * 100_000,  # RecursionError in json.loads: 500 before
        b'{"jobs": ' + b"[" * MAX_PAYLOAD_DEPTH + b"]" * MAX_PAYLOAD_DEPTH + b"}",
    ],
    ids=["recursion", "over-the-limit"],
)
def test_a_payload_nested_too_deep_is_lambdas_400(invoke_api, payload):
    address, function = invoke_api
    url = f"http://{address}/2015-03-31/functions/EnqueueFunction/invocations"
    response = requests.post(url, data=payload, timeout=30)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert "nested deeper" in response.json()["message"]
    assert function.events == []


def test_a_payload_at_the_depth_limit_reaches_the_function(invoke_api):
    address, function = invoke_api
    depth = MAX_PAYLOAD_DEPTH - 1
    payload = b'{"jobs": ' + b"[" * depth + b"]" * depth + b"}"
    url = f"http://{address}/2015-03-31/functions/EnqueueFunction/invocations"
    response = requests.post(url, data=payload, timeout=30)
    assert response.status_code == 200
    assert len(function.events) == 1
