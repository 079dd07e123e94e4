"""A small threaded HTTP server on 127.0.0.1 for the local stack's endpoints.

The port is bound when the server is made, so a port in use is reported
before anything else starts.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("local.httpd")

HOST = "127.0.0.1"


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


App = Callable[[Request], Response]


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def bind(port: int, variable: str, app: App, name: str) -> ThreadingHTTPServer:
    """A server for ``app`` bound to ``port`` (not serving yet)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = name

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            request = Request(
                method=self.command,
                target=self.path,
                headers=list(self.headers.items()),
                body=body,
                client_ip=self.client_address[0],
            )
            try:
                response = app(request)
            except Exception:
                log.exception("%s %s failed in the local stack", self.command, self.path)
                response = Response(500, b'{"message":"Internal Server Error"}', [("content-type", "application/json")])
            self.send_response(response.status)
            for key, value in response.headers:
                if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

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
