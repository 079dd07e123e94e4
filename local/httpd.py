"""A small threaded HTTP server on 127.0.0.1 for the local stack's endpoints.

The port is bound when the server is made, so a port in use is reported
before anything else starts.

Whatever the server answers itself, before or instead of the app (a request
it cannot parse, a method it does not serve, a body without a usable length
or over ``MAX_BODY_BYTES``, an app that raised) is JSON in the contract's
error envelope, never ``http.server``'s HTML page. A chunked body is read, as
API Gateway reads it. Every request is logged: method, path without its
query, status, milliseconds.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("local.httpd")

HOST = "127.0.0.1"
# API Gateway's HTTP APIs take payloads of up to 10 MB.
MAX_BODY_BYTES = 10 * 1024 * 1024
# A client that stops sending mid-request frees its thread after this long.
READ_TIMEOUT_SECONDS = 60
# A chunked body's size lines and trailers: longer lines, or more trailers, are refused.
_CHUNK_LINE_BYTES = 4096
_MAX_TRAILER_LINES = 100
_LOGGED_PATH_CHARS = 200
# The contract's codes where it has one; otherwise the status's own name.
_CODES = {HTTPStatus.BAD_REQUEST: "invalid_request", HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "body_too_large"}


class PortInUse(Exception):
    def __init__(self, port: int, variable: str) -> None:
        super().__init__(
            f"port {port} is already in use: stop what listens there, or pick another port with {variable}=<port>"
        )
        self.port = port
        self.variable = variable


@dataclass
class Request:
    method: str
    target: str  # path and query, as sent
    headers: list[tuple[str, str]]
    body: bytes
    client_ip: str

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    # The request's path as the log shows it, when the app must hide part of it.
    logged_path: str | None = None


App = Callable[[Request], Response]


def json_error(status: int, code: str | None, message: str) -> Response:
    """An error in the contract's envelope (``{"error": {"code", "message"}}``),
    with API Gateway's own ``{"message": <reason phrase>}`` beside it so that
    clients of either shape can read it."""
    known = HTTPStatus(status)
    body = {
        "message": known.phrase,
        "error": {"code": code or _CODES.get(known, known.name.lower()), "message": message},
    }
    return Response(status, json.dumps(body).encode(), [("content-type", "application/json")])


def _too_large() -> Response:
    return json_error(413, None, f"the request body is over {MAX_BODY_BYTES} bytes")


def loggable_path(target: str) -> str:
    """A request target as it may be logged: the path only (a query string may
    carry secrets), printable, and short."""
    path = target.split("?", 1)[0]
    shown = "".join(c if c.isprintable() and c != " " else "?" for c in path[:_LOGGED_PATH_CHARS])
    return shown + ("..." if len(path) > _LOGGED_PATH_CHARS else "")


def log_access(method: str, path: str, status: int, started: float) -> None:
    """One line per request: never a header, a query string or a body."""
    millis = (time.monotonic() - started) * 1000
    log.info("%s %s %d %.0f ms", method or "-", path, status, millis)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def bind(port: int, variable: str, app: App, name: str) -> ThreadingHTTPServer:
    """A server for ``app`` bound to ``port`` (not serving yet)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = name
        timeout = READ_TIMEOUT_SECONDS

        def _handle(self) -> None:
            started = time.monotonic()
            response = self._answer()
            # Logged before it is sent: a client that has its answer finds it in the log.
            log_access(self.command, response.logged_path or loggable_path(self.path), response.status, started)
            self._send(response)

        def _answer(self) -> Response:
            body, refusal = self._body()
            if refusal is not None:
                self.close_connection = True  # the body, if any, was not read to its end
                return refusal
            request = Request(
                method=self.command,
                target=self.path,
                headers=list(self.headers.items()),
                body=body,
                client_ip=self.client_address[0],
            )
            try:
                return app(request)
            except Exception:
                log.exception("%s %s failed in the local stack", self.command, loggable_path(self.path))
                return json_error(500, "internal_error", "the local stack failed; its log has the details")

        def _body(self) -> tuple[bytes, Response | None]:
            """The request's body, by its ``Content-Length`` or de-chunked as
            API Gateway does; a length it cannot read is 400, over the limit 413."""
            coding = (self.headers.get("Transfer-Encoding") or "identity").strip().lower()
            if coding == "chunked":
                return self._chunked_body()
            if coding != "identity":
                return b"", json_error(501, None, f"the transfer coding {coding[:40]!r} is not supported")
            declared = (self.headers.get("Content-Length") or "0").strip()
            if not (declared.isascii() and declared.isdigit()):
                return b"", json_error(400, None, "the Content-Length header is not a number of bytes")
            if len(declared) > len(str(MAX_BODY_BYTES)) or int(declared) > MAX_BODY_BYTES:
                return b"", _too_large()
            length = int(declared)
            return (self.rfile.read(length) if length > 0 else b""), None

        def _chunked_body(self) -> tuple[bytes, Response | None]:
            body = bytearray()
            while True:
                size_line = self.rfile.readline(_CHUNK_LINE_BYTES + 1)
                size = size_line.split(b";", 1)[0].strip()
                if len(size_line) > _CHUNK_LINE_BYTES or not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size):
                    return b"", json_error(400, None, "a chunk of the body has no readable size")
                if int(size, 16) == 0:
                    break
                if len(body) + int(size, 16) > MAX_BODY_BYTES:
                    return b"", _too_large()
                body += self.rfile.read(int(size, 16))
                if self.rfile.readline(_CHUNK_LINE_BYTES + 1).strip():
                    return b"", json_error(400, None, "a chunk of the body is longer than its size")
            for _ in range(_MAX_TRAILER_LINES):  # trailers, read and dropped, to the blank line
                if not self.rfile.readline(_CHUNK_LINE_BYTES + 1).strip():
                    return bytes(body), None
            return b"", json_error(400, None, "the chunked body does not end")

        def _send(self, response: Response) -> None:
            self.send_response(response.status)
            for key, value in response.headers:
                if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def __getattr__(self, name: str) -> Callable[[], None]:
            """Every method goes to the app (``http.server`` looks for
            ``do_<METHOD>``), which answers one it has no route for as API
            Gateway does (404), rather than ``http.server``'s 501 page."""
            if name.startswith("do_"):
                return self._handle
            raise AttributeError(name)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """``http.server``'s own refusals (a request line too long or not
            HTTP, headers too long): JSON, not HTML."""
            status = HTTPStatus(code)
            response = json_error(code, None, message or status.description)
            # What it read of the request line, which may have stopped short of command and path.
            line = getattr(self, "requestline", "") or getattr(self, "raw_requestline", b"")[:4096].decode("latin-1")
            words = [*line.split(), "", ""]
            log_access(loggable_path(words[0])[:20], loggable_path(words[1]), code, time.monotonic())
            # A request line it could not read leaves HTTP/0.9, which has no status line or headers.
            if self.request_version == "HTTP/0.9":
                self.request_version = "HTTP/1.0"
            self.close_connection = True
            self._send(response)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    try:
        return _Server((HOST, port), Handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(port, variable) from exc
        raise


def serve_in_background(server: ThreadingHTTPServer, name: str) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=name, daemon=True)
    thread.start()
    return thread
