"""Fixtures of the browser tests: Debian's chromium driven by Playwright (no
browser download), against a local stack of their own on free ports.

One browser for the session, one fresh context (and so fresh sessionStorage)
per test. Every request the browser makes is recorded, and a test fails when
one went anywhere but the stack's API port. Screenshots go to
``test-output/browser/`` (gitignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Request, sync_playwright

from local import httpd
from local.tokens import mint, template_rules
from tests.e2e.stack_process import ROOT, RunningStack, start_stack, stop_stack, wait_ready, wait_until

# Only loopback resolves, and the two fetchers Playwright's defaults miss go to
# a dead loopback port: the browser makes no request off this machine.
QUIET_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
    "--gaia-url=http://127.0.0.1:9",
    "--component-updater=url-source=http://127.0.0.1:9/",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
OUTPUT = ROOT / "test-output" / "browser"
SECRET = "dev-secret"  # the local stack's default


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(f"no chromium at {path}: `make test` installs Debian's (apt-get install chromium)", pytrace=False)
    return path


def token(*domains: str, ttl_seconds: int = 3600) -> str:
    return mint(list(domains), secret=SECRET, rules=template_rules(), ttl_seconds=ttl_seconds)


def new_domain(prefix: str = "acme") -> str:
    """A domain of this test alone: the stack is shared by the session."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}.com"


@dataclass
class PageStack:
    stack: RunningStack

    @property
    def api(self) -> str:
        return self.stack.api

    def url(self, tok: str | None = None, fragment: str = "") -> str:
        if tok is not None:
            return f"{self.api}/#token={tok}"
        return f"{self.api}/{fragment}"

    def enqueue(self, *requests_: dict[str, Any]) -> list[str]:
        """Jobs queued as Privas services queue them (Lambda Invoke), in order."""
        answer = self.stack.lambda_client().invoke(
            FunctionName="EnqueueFunction", Payload=json.dumps({"jobs": list(requests_)})
        )
        result = json.loads(answer["Payload"].read())
        assert "job_ids" in result, result
        job_ids: list[str] = result["job_ids"]
        return job_ids

    def get(self, path: str, tok: str) -> requests.Response:
        return requests.get(f"{self.api}{path}", headers={"Authorization": f"Bearer {tok}"}, timeout=30)

    def call(self, method: str, path: str, tok: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {tok}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.api}{path}", headers=headers, timeout=30, **kwargs)

    def wait_for_status(self, job_id: str, tok: str, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            answer = self.get(f"/jobs/{job_id}", tok)
            job: dict[str, Any] = answer.json()
            return job if answer.status_code == 200 and job["status"] in statuses else None

        found: dict[str, Any] = wait_until(reached, timeout, interval=0.5, message=f"{job_id} to be {statuses}")
        return found


def email(domain: str, to: str, subject: str, **extra: Any) -> dict[str, Any]:
    return {"type": "ai_followup", "domain": domain, "to": to, "subject": subject, "body_text": "Hello.", **extra}


def start_page_stack(tmp_path_factory: pytest.TempPathFactory, name: str, **env: str) -> Iterator[PageStack]:
    log = tmp_path_factory.mktemp(name) / "stack.log"
    process, ports = start_stack(log, **env)
    running = RunningStack(
        process=process,
        log=log,
        api=f"http://127.0.0.1:{ports['EMAILOPS_API_PORT']}",
        lambda_endpoint=f"http://127.0.0.1:{ports['EMAILOPS_LAMBDA_PORT']}",
        aws=f"http://127.0.0.1:{ports['EMAILOPS_AWS_PORT']}",
    )
    try:
        wait_ready(process, running.api, log)
        yield PageStack(running)
    finally:
        # Still draining a bulk on a busy machine, it is killed: all a test needs
        with contextlib.suppress(subprocess.TimeoutExpired):
            stop_stack(process)


@pytest.fixture(scope="session")
def page_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageStack]:
    yield from start_page_stack(tmp_path_factory, "page-stack")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium_path(), args=QUIET_ARGS)
    yield launched
    launched.close()


# How Chromium fails a request the Content-Security-Policy refused (it never left the browser).
REFUSED_BY_POLICY = {"csp", "net::ERR_BLOCKED_BY_CSP"}


@dataclass
class Watch:
    """What the browser did during one test.

    A request the page's Content-Security-Policy refused never leaves the
    browser, but Chromium may still report it (then fail it as ``csp``): an
    email's frame taken out of the page and put back, so loaded again, does.
    Only the requests that were not refused so count as made."""

    allowed_origin: str
    seen: list[Request] = field(default_factory=list)
    refused: list[Request] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> list[str]:
        """The URLs of the requests made (not refused by the policy)."""
        return [request.url for request in self.seen if request not in self.refused]

    def saw(self, request: Request) -> None:
        self.seen.append(request)

    def failed(self, request: Request) -> None:
        if request.failure in REFUSED_BY_POLICY:
            self.refused.append(request)

    def foreign(self) -> list[str]:
        return [
            url
            for url in self.requests
            if not url.startswith(("data:", "about:", "blob:"))
            and f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" != self.allowed_origin
        ]


def open_context(browser: Browser, stack: PageStack, watch: Watch) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="Europe/Berlin")
    context.set_default_timeout(15_000)
    context.on("request", watch.saw)
    context.on("requestfailed", watch.failed)
    context.on("weberror", lambda error: watch.errors.append(str(error.error)))
    return context


@dataclass
class Listener:
    """A server on 127.0.0.1 that only counts what reaches it: what an email's
    HTML points at, so that anything the browser really sends shows up here.

    ``connections`` counts every TCP connection accepted, a request or not:
    Chromium pre-connects to a URL it expects to load (an ``<iframe src>``, a
    link's host) and may then send nothing on it."""

    origin: str = ""
    hits: list[str] = field(default_factory=list)
    connections: int = 0

    def answer(self, request: httpd.Request) -> httpd.Response:
        self.hits.append(request.target)
        return httpd.Response(204)


@pytest.fixture
def listener() -> Iterator[Listener]:
    listening = Listener()
    server = httpd.bind(0, "the listener's port", listening.answer, "listener")
    listening.origin = f"http://{httpd.HOST}:{server.server_address[1]}"
    accept = server.get_request

    def counted() -> Any:
        connection = accept()
        listening.connections += 1
        return connection

    server.get_request = counted  # type: ignore[method-assign]
    httpd.serve_in_background(server, "listener")
    try:
        yield listening
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def watch(page_stack: PageStack) -> Watch:
    return Watch(allowed_origin=page_stack.api)


@pytest.fixture
def context(browser: Browser, page_stack: PageStack, watch: Watch) -> Iterator[BrowserContext]:
    context = open_context(browser, page_stack, watch)
    yield context
    context.close()
    assert watch.foreign() == [], "the page made a request off its own origin"
    assert watch.dialogs == [], "something opened a JavaScript dialog"
    assert watch.errors == [], "the page threw"


@pytest.fixture
def page(context: BrowserContext, watch: Watch) -> Page:
    page = context.new_page()
    page.on("dialog", lambda dialog: (watch.dialogs.append(dialog.message), dialog.dismiss()))
    return page


# An iPhone-sized screen, the narrow layout of docs/page.md.
PHONE = {"width": 390, "height": 844}


def accessibility_roles(page: Page) -> list[str]:
    """The roles of Chromium's own accessibility tree (what a screen reader
    gets), not Playwright's reading of the markup: CSS can change the first."""
    session = page.context.new_cdp_session(page)
    try:
        tree = session.send("Accessibility.getFullAXTree")
    finally:
        session.detach()
    return [node["role"]["value"] for node in tree["nodes"] if not node.get("ignored") and "role" in node]


def no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate(
        "() => ({page: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth})"
    )
    assert widths["page"] <= widths["view"] and widths["body"] <= widths["view"], widths


# ------------------------------------------------------------------ Chromium's net log
@dataclass
class NetLog:
    """What Chromium's network stack was asked to do (``--log-net-log``): every
    URL it requested or pre-connected to, every host it resolved, every TCP
    address it connected to. Read after the browser closed (the file is
    complete then)."""

    urls: list[str]
    hosts: list[str]
    connects: list[str]
    text: str

    @classmethod
    def read(cls, path: Path) -> NetLog:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        names = {number: name for name, number in data["constants"]["logEventTypes"].items()}
        urls: list[str] = []
        hosts: list[str] = []
        connects: list[str] = []
        for event in data["events"]:
            name = names.get(event["type"], "")
            params = event.get("params") or {}
            if "url" in params and name.startswith(("URL_REQUEST", "HTTP_STREAM", "PRECONNECT", "HTTP_TRANSACTION")):
                urls.append(str(params["url"]))
            if name.startswith("HOST_RESOLVER") and "host" in params:
                hosts.append(str(params["host"]))
            if name == "TCP_CONNECT_ATTEMPT" and "address" in params:
                connects.append(str(params["address"]))
        return cls(urls=urls, hosts=hosts, connects=connects, text=text)


def launch_with_net_log(playwright: Playwright, path: Path) -> Browser:
    return playwright.chromium.launch(
        executable_path=chromium_path(), args=[*QUIET_ARGS, f"--log-net-log={path}", "--net-log-capture-mode=Default"]
    )


def screenshot(page: Page, name: str) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A and AA violations on the page as it is now.

    Evaluated through the DevTools protocol, which the page's CSP does not
    govern (an injected <script> would be refused, as it should be)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `npm ci` (make test runs it)", pytrace=False)
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["html"][:200] for n in v["nodes"]]} for v in result["violations"]
    ]
