"""The whole service on one machine: an embedded AWS (moto server) holding the
template's tables, queues and SES set-up; the template's functions run in
this process; its HTTP API, a Lambda Invoke API, its queue pollers and its
schedules in front of them. Everything is read from ``template.yaml``.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from werkzeug.serving import BaseWSGIServer, make_server

from common.adapters import aws
from local import httpd, iam, limits, motofix, roles
from local.http_api import HttpApi
from local.lambda_api import LambdaApi
from local.limits import sesv2
from local.pollers import QueuePoller, SchedulePoller, queue_sources, schedules
from local.runtime import ConfigurationError, LocalFunction, load_functions, shared_environment
from local.ses import (
    DEFAULT_MAX_SEND_RATE,
    FAULTS_VARIABLE,
    SEND_RATE_VARIABLE,
    SendRate,
    SesFaultInjector,
    SesFaults,
    SesSendRateLimiter,
    check_sender,
    parse_send_rate,
    verify_sender_identity,
)
from local.ses_events import SesEventEmulator, SesEventPublisher
from local.template import ACCOUNT, REGION, Stack, create_stack, default_parameters, load_template
from local.tokens import DEFAULT_SECRET, JwtRules, jwt_rules

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger("local.stack")

PARAM_PREFIX = "EMAILOPS_PARAM_"
# Where the local stack differs from the template's defaults, and why: nowhere
# now. The workers pace to the embedded SES's own rate (EMAILOPS_SES_MAX_SEND_RATE),
# read with GetAccount as in AWS.
LOCAL_PARAMETER_DEFAULTS: Mapping[str, str] = {}
DEFAULT_SCHEDULE_SECONDS = 30


@dataclass(frozen=True)
class Settings:
    """The local stack's knobs, from ``EMAILOPS_*`` environment variables."""

    api_port: int = 3000
    lambda_port: int = 3001
    aws_port: int = 5000
    secret: str = DEFAULT_SECRET
    schedule_seconds: int = DEFAULT_SCHEDULE_SECONDS
    parameters: Mapping[str, str] = field(default_factory=dict)
    ses_faults: SesFaults = field(default_factory=SesFaults)
    # The embedded SES's maximum send rate (emails a second; 0: none): local/ses.py.
    ses_max_send_rate: float = DEFAULT_MAX_SEND_RATE
    # SES's delivery events, emulated after each accepted send (local/ses_events.py);
    # EMAILOPS_SES_EVENTS=off leaves every sent job "sent", as with a broken event path.
    ses_events: bool = True
    # Where every AWS call the functions make is recorded with the role's
    # answer (EMAILOPS_PERMISSIONS_LOG, a folder; the tests set it): the
    # permissions report of `make deploy-check` reads it.
    permissions_log: Path | None = field(default_factory=lambda: _permissions_log(os.environ))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        template = load_template()
        known = set(template.get("Parameters", {}))
        parameters = {k.removeprefix(PARAM_PREFIX): v for k, v in env.items() if k.startswith(PARAM_PREFIX)}
        unknown = sorted(set(parameters) - known)
        if unknown:
            raise ConfigurationError(f"{PARAM_PREFIX}{unknown[0]}: template.yaml has no parameter {unknown[0]}")
        # Every send would be refused (MessageRejected): say so now, not once per job.
        check_sender(default_parameters(template, parameters))
        return cls(
            api_port=_int(env, "EMAILOPS_API_PORT", cls.api_port),
            lambda_port=_int(env, "EMAILOPS_LAMBDA_PORT", cls.lambda_port),
            aws_port=_int(env, "EMAILOPS_AWS_PORT", cls.aws_port),
            secret=env.get("EMAILOPS_DEV_JWT_SECRET") or DEFAULT_SECRET,
            schedule_seconds=_int(env, "EMAILOPS_SCHEDULE_SECONDS", cls.schedule_seconds),
            parameters=parameters,
            ses_faults=SesFaults.parse(env.get(FAULTS_VARIABLE, "")),
            ses_max_send_rate=parse_send_rate(env.get(SEND_RATE_VARIABLE)),
            ses_events=_switch(env, SES_EVENTS_VARIABLE, default=True),
            permissions_log=_permissions_log(env),
        )

    @property
    def template_overrides(self) -> dict[str, str]:
        """The template parameters the local stack sets: its own defaults, then ``EMAILOPS_PARAM_*``."""
        return {**LOCAL_PARAMETER_DEFAULTS, **self.parameters}

    @property
    def aws_endpoint(self) -> str:
        return f"http://{httpd.HOST}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{httpd.HOST}:{self.api_port}"

    @property
    def lambda_url(self) -> str:
        return f"http://{httpd.HOST}:{self.lambda_port}"


SES_EVENTS_VARIABLE = "EMAILOPS_SES_EVENTS"
PERMISSIONS_LOG_VARIABLE = "EMAILOPS_PERMISSIONS_LOG"


def _permissions_log(env: Mapping[str, str]) -> Path | None:
    folder = env.get(PERMISSIONS_LOG_VARIABLE)
    return Path(folder) if folder else None


def _switch(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("on", "true", "1", "yes"):
        return True
    if raw in ("off", "false", "0", "no"):
        return False
    raise ConfigurationError(f"{name}={raw!r}: expected on or off")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    if not 0 < value < 65536 and name.endswith("_PORT"):
        raise ConfigurationError(f"{name}={value} is not a port number")
    if value <= 0:
        raise ConfigurationError(f"{name}={value} must be positive")
    return value


def local_aws_environment(settings: Settings, region: str) -> dict[str, str]:
    """What this process's AWS clients (the handlers' too) need to reach the
    embedded AWS, and only it."""
    return {
        "AWS_ENDPOINT_URL": settings.aws_endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        # No X-Ray daemon here.
        "POWERTOOLS_TRACE_DISABLED": "1",
    }


def _isolate_from_real_aws(environ: dict[str, str] | os._Environ[str]) -> None:
    for key in list(environ):
        if key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN") or key.startswith("AWS_ENDPOINT_URL_"):
            del environ[key]


class _Dispatch:
    """The app behind a port bound before the app exists."""

    def __init__(self) -> None:
        self.app: httpd.App | None = None

    def __call__(self, request: httpd.Request) -> httpd.Response:
        if self.app is None:
            return httpd.Response(503, b'{"message":"Service Unavailable"}', [("content-type", "application/json")])
        return self.app(request)


class _DynamoDbOneAtATime:
    """WSGI middleware: the embedded AWS handles DynamoDB requests one at a time.

    moto's DynamoDB is not safe under concurrent requests, which the local
    stack makes as AWS would (pollers, API and Invoke calls in parallel): a
    TransactWriteItems that fails a condition restores a copy of the table
    taken before it began, undoing writes made meanwhile (a job's "sent"
    reverted to "sending"), and a conditional write checks and writes in two
    steps. DynamoDB itself makes each request atomic; this lock does here.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with self._lock:
                return list(self._app(environ, start_response))
        return self._app(environ, start_response)


def _bind_aws(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((httpd.HOST, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise httpd.PortInUse(port, "EMAILOPS_AWS_PORT") from exc
        raise
    sock.listen(128)
    return sock


class LocalStack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stack: Stack | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.http_api: HttpApi | None = None
        self.queue_pollers: list[QueuePoller] = []
        self.schedule_pollers: list[SchedulePoller] = []
        self.jwt_rules = JwtRules()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._aws_socket: socket.socket | None = None
        self._aws_server: BaseWSGIServer | None = None
        self._aws_thread: threading.Thread | None = None
        self._servers: list[ThreadingHTTPServer] = []
        self._serving: list[ThreadingHTTPServer] = []
        self.ses_events: SesEventPublisher | None = None
        self.permissions: iam.Permissions | None = None
        self._enforced_before: iam.Permissions | None = None

    def start(self) -> None:
        """Bind every port (``PortInUse`` before anything starts), then start
        the embedded AWS, create the template's resources in it, and serve."""
        s = self.settings
        api_app, lambda_app = _Dispatch(), _Dispatch()
        try:
            self._aws_socket = _bind_aws(s.aws_port)
            self._servers.append(httpd.bind(s.api_port, "EMAILOPS_API_PORT", api_app, "local-http-api"))
            self._servers.append(httpd.bind(s.lambda_port, "EMAILOPS_LAMBDA_PORT", lambda_app, "local-lambda"))
            self._start(api_app, lambda_app)
        except BaseException:
            self.stop()
            raise

    def _start(self, api_app: _Dispatch, lambda_app: _Dispatch) -> None:
        s = self.settings
        self._start_aws()
        _isolate_from_real_aws(os.environ)
        os.environ.update(local_aws_environment(s, REGION))

        session = boto3.Session(region_name=REGION)
        stack = create_stack(session, overrides=s.template_overrides, api_url=s.api_url)
        # As in AWS, SES sends only from what SenderIdentity verifies.
        verify_sender_identity(session.client("sesv2", region_name=REGION), stack.parameters["SenderIdentity"])
        self.stack = stack
        self._enforce(stack)
        os.environ.update(shared_environment(stack))
        self.functions = load_functions(stack)
        self.http_api = HttpApi(stack, self.functions, secret=s.secret)
        self.jwt_rules = jwt_rules(stack)

        sqs: SQSClient = boto3.client("sqs", region_name=REGION, endpoint_url=s.aws_endpoint)
        for source in queue_sources(stack):
            # Each event source has execution environments of its own, as in
            # Lambda, where each queue's pollers scale on their own: a bulk
            # batch in progress never holds an escalation back.
            environment = LocalFunction(self.functions[source.function].config)
            poller = QueuePoller(source, environment, sqs, region=REGION)
            self.queue_pollers.append(poller)
            self._spawn(poller.run, f"poll-{source.queue_name}")
        for schedule in schedules(stack):
            sp = SchedulePoller(
                schedule, self.functions[schedule.function], interval_seconds=schedule.local_seconds(s.schedule_seconds)
            )
            self.schedule_pollers.append(sp)
            self._spawn(sp.run, f"schedule-{schedule.function}")

        api_app.app = self.http_api
        lambda_app.app = LambdaApi(self.functions)
        for server, name in zip(self._servers, ("http-api", "lambda-api"), strict=True):
            httpd.serve_in_background(server, name)
            self._serving.append(server)

    def _enforce(self, stack: Stack) -> None:
        """Each function runs with exactly its role's permissions (docs/local-stack.md,
        "Permissions"): every AWS call it makes is checked against them."""
        recorder = None
        if self.settings.permissions_log is not None:
            path = self.settings.permissions_log / f"stack-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
            recorder = iam.Recorder(path, roles.template_digest())
        self.permissions = roles.permissions(stack, recorder=recorder)
        self._enforced_before = iam.ENFORCER.activate(self.permissions)
        aws.add_session_hook(iam.ENFORCER.install)

    def _start_aws(self) -> None:
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 - heavy; only the running stack needs it
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        motofix.apply()
        # AWS's limits that moto does not enforce by itself (local/limits/).
        limits.apply()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        if self._aws_socket is None:
            raise RuntimeError("the embedded AWS's port is not bound")
        app: Callable[..., Iterable[bytes]] = _DynamoDbOneAtATime(DomainDispatcherApplication(create_backend_app))
        # SES's delivery events, as its mailbox simulator publishes them (behind
        # the fault injector: a refused send publishes nothing).
        endpoint = self.settings.aws_endpoint
        if self.settings.ses_events:
            self.ses_events = SesEventPublisher(
                lambda: boto3.client(
                    "events",
                    region_name=REGION,
                    endpoint_url=endpoint,
                    aws_access_key_id="local",
                    aws_secret_access_key="local",  # noqa: S106 - the embedded AWS takes any key
                ),
                region=REGION,
                account=ACCOUNT,
                identity=default_parameters(load_template(), dict(self.settings.template_overrides))["SenderIdentity"],
            )
            app = SesEventEmulator(app, self.ses_events)
        # SES's sending rate: a throttled send reaches neither moto nor the events.
        sesv2.set_send_rate(ACCOUNT, REGION, self.settings.ses_max_send_rate)
        if self.settings.ses_max_send_rate > 0:
            app = SesSendRateLimiter(app, SendRate(self.settings.ses_max_send_rate))
        if self.settings.ses_faults.active:
            app = SesFaultInjector(app, self.settings.ses_faults)
        server = make_server(
            httpd.HOST,
            self.settings.aws_port,
            app,
            threaded=True,
            request_handler=MotoRequestHandler,
            fd=self._aws_socket.fileno(),
        )
        self._aws_server = server
        self._aws_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="aws", daemon=True
        )
        self._aws_thread.start()

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the pollers and schedules (each finishes the batch it holds),
        then the servers."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        for server in self._serving:
            server.shutdown()
        self._serving.clear()
        for server in self._servers:
            server.server_close()
        self._servers.clear()
        if self.ses_events is not None:
            self.ses_events.stop()
            self.ses_events = None
        if self._aws_server is not None:
            if self._aws_thread is not None:  # shutdown() waits for serve_forever() to end
                self._aws_server.shutdown()
            self._aws_server.server_close()
            self._aws_server = None
        if self._aws_socket is not None:
            self._aws_socket.close()
            self._aws_socket = None
        if self.permissions is not None:
            if self.permissions.recorder is not None:
                self.permissions.recorder.flush()
            iam.ENFORCER.activate(self._enforced_before)
            self.permissions = None
