"""The template's functions, run in this process the way Lambda runs them.

Each function's handler file (``CodeUri`` + ``Handler``) is imported once, on
its first invocation (a cold start; a failed import is tried again on the
next one, as Lambda does), and invoked one event at a time: one execution
environment per function. Events and results go through JSON as they do in
Lambda, the handler gets a Lambda context, and errors come back as Lambda
reports them.

All functions share this process's environment: the union of their template
environments (a variable two functions set differently is refused at start,
since in-process they could not both see their own value).

They also share the logging module, and so Powertools' logger and the Lambda
context keys its ``inject_lambda_context`` appends to it: with two functions
running at once, a line would carry whichever function appended last. Every
log record made while a function runs therefore carries that invocation's own
keys (``function_name``, ``function_request_id``, ...; see ``invocation_keys``),
which Powertools writes over the shared ones.
"""

from __future__ import annotations

import contextvars
import importlib.util
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from local import iam
from local.template import ROOT, Stack

log = logging.getLogger("local.runtime")

Handler = Callable[[Any, Any], Any]

_import_lock = threading.Lock()

# The invocation running on this thread, as Powertools' Lambda context keys.
_invocation_keys: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "local_invocation_keys", default=None
)
_factory_lock = threading.Lock()
_factory_installed = False


def invocation_keys() -> dict[str, Any] | None:
    """The Lambda context keys of the invocation running on this thread, or
    ``None`` outside any function."""
    return _invocation_keys.get()


def install_log_keys() -> None:
    """Make every log record created during an invocation carry its keys (once
    per process). Powertools writes a record's own attributes over the keys
    appended to its (shared) logger, so each JSON line names the function,
    request and execution environment that wrote it; ``LocalLogFormatter``
    shows the function on the stack's plain-text lines."""
    global _factory_installed  # noqa: PLW0603 - a process-wide hook, installed once
    with _factory_lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            keys = _invocation_keys.get()
            if keys:
                record.__dict__.update(keys)
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True


class LocalLogFormatter(logging.Formatter):
    """The stack's plain-text lines, with ``[<function>]`` after the logger's
    name when a function was running (a library's warning in a handler, say)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        function = getattr(record, "function_name", None)
        if function:
            head, sep, tail = line.partition(": ")
            line = f"{head} [{function}]{sep}{tail}"
        return line


class ConfigurationError(Exception):
    """The template asks for something the local stack cannot do; the message says what."""


@dataclass
class LambdaContext:
    """The context object of the Python runtime (``awslambdaric``'s fields)."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_ms: int
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None

    def get_remaining_time_in_millis(self) -> int:
        return max(self.deadline_ms - int(time.time() * 1000), 0)


@dataclass(frozen=True)
class Invocation:
    """A function's answer: its result, or Lambda's error object when ``failed``."""

    payload: Any
    request_id: str
    failed: bool = False

    def body(self) -> bytes:
        return json.dumps(self.payload).encode()


@dataclass
class FunctionConfig:
    logical_id: str
    code_dir: Path
    handler: str
    timeout_seconds: float
    memory_mb: int
    runtime: str
    region: str
    account: str
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.logical_id}"


def function_configs(stack: Stack, root: Path = ROOT) -> dict[str, FunctionConfig]:
    """Every ``AWS::Serverless::Function`` with ``Globals.Function`` merged in."""
    globals_fn: dict[str, Any] = stack.template.get("Globals", {}).get("Function", {})
    configs: dict[str, FunctionConfig] = {}
    for logical, resource in stack.functions().items():
        props = {**globals_fn, **(resource.get("Properties") or {})}
        code_uri = stack.resolve(props.get("CodeUri"))
        runtime = str(stack.resolve(props.get("Runtime", "")))
        if not isinstance(code_uri, str):
            raise ConfigurationError(f"{logical}: only a local CodeUri folder can run locally")
        if not runtime.startswith("python"):
            raise ConfigurationError(f"{logical}: runtime {runtime!r} cannot run in this Python process")
        configs[logical] = FunctionConfig(
            logical_id=logical,
            code_dir=(root / code_uri).resolve(),
            handler=str(stack.resolve(props["Handler"])),
            timeout_seconds=float(stack.resolve(props.get("Timeout", 3))),
            memory_mb=int(stack.resolve(props.get("MemorySize", 128))),
            runtime=runtime,
            region=stack.region,
            account=stack.account,
            properties=props,
        )
    return configs


def shared_environment(stack: Stack) -> dict[str, str]:
    """The union of every function's environment; a variable set differently
    by two functions is a ``ConfigurationError``."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for logical in stack.functions():
        for key, value in stack.function_environment(logical).items():
            if key in merged and merged[key] != value:
                raise ConfigurationError(
                    f"{owner[key]} and {logical} set {key} to different values; functions share one"
                    " process locally, so each variable must mean the same for all of them"
                )
            merged[key] = value
            owner.setdefault(key, logical)
    return merged


class LocalFunction:
    """One function, one execution environment: invocations run one at a time."""

    def __init__(self, config: FunctionConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._handler: Handler | None = None
        install_log_keys()

    @property
    def name(self) -> str:
        return self.config.logical_id

    def invoke(self, event: Any) -> Invocation:
        request_id = str(uuid.uuid4())
        with self._lock:
            keys = {
                "function_name": self.name,
                "function_memory_size": str(self.config.memory_mb),
                "function_arn": self.config.arn,
                "function_request_id": request_id,
                "cold_start": self._handler is None,
            }
            token = _invocation_keys.set(keys)
            # Every AWS call it makes, its init's too, is checked against its own role (local.iam).
            try:
                with iam.running_as(self.name):
                    try:
                        handler = self._handler or self._cold_start()
                    except _InitError as exc:
                        log.error("%s: %s", self.name, exc.payload["errorMessage"])
                        return Invocation(
                            payload={**exc.payload, "requestId": request_id}, request_id=request_id, failed=True
                        )
                    return self._run(handler, json.loads(json.dumps(event)), request_id)
            finally:
                _invocation_keys.reset(token)

    def _run(self, handler: Handler, event: Any, request_id: str) -> Invocation:
        started = time.time()
        context = LambdaContext(
            function_name=self.name,
            function_version="$LATEST",
            invoked_function_arn=self.config.arn,
            memory_limit_in_mb=str(self.config.memory_mb),
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{self.name}",
            log_stream_name=f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}",
            deadline_ms=int((started + self.config.timeout_seconds) * 1000),
        )
        try:
            result = handler(event, context)
        except Exception as exc:  # noqa: BLE001 - reported as Lambda reports it
            # Without this frame, as Lambda's runtime leaves out its own.
            frames = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
            log.error("%s [%s] %s: %s\n%s", self.name, request_id, type(exc).__name__, exc, "".join(frames))
            return Invocation(
                payload={
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "requestId": request_id,
                    "stackTrace": frames,
                },
                request_id=request_id,
                failed=True,
            )
        elapsed = time.time() - started
        if elapsed > self.config.timeout_seconds:
            message = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%f}"[:-3] + "Z"
            message += f" {request_id} Task timed out after {self.config.timeout_seconds:.2f} seconds"
            log.error("%s: %s", self.name, message)
            return Invocation(
                payload={"errorType": "Sandbox.Timedout", "errorMessage": message},
                request_id=request_id,
                failed=True,
            )
        try:
            payload = json.loads(json.dumps(result))
        except (TypeError, ValueError) as exc:
            return Invocation(
                payload={
                    "errorMessage": f"Unable to marshal response: {exc}",
                    "errorType": "Runtime.MarshalError",
                    "requestId": request_id,
                    "stackTrace": [],
                },
                request_id=request_id,
                failed=True,
            )
        return Invocation(payload=payload, request_id=request_id)

    def _cold_start(self) -> Handler:
        module_path, _, attribute = self.config.handler.rpartition(".")
        file = self.config.code_dir / Path(*module_path.split(".")).with_suffix(".py")
        # One module per execution environment: the same file may be loaded by several.
        unique = f"_local_{self.name}_{id(self):x}_{module_path.replace('.', '_')}"
        module = _import_file(unique, file, self.config.code_dir)
        handler: Handler | None = getattr(module, attribute, None)
        if handler is None or not callable(handler):
            raise _InitError("Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_path}'")
        self._handler = handler
        return handler


class _InitError(Exception):
    """The function could not start; ``payload`` is Lambda's error object for it."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.payload: dict[str, Any] = {"errorMessage": message, "errorType": error_type, "stackTrace": []}


def _import_file(name: str, file: Path, code_dir: Path) -> ModuleType:
    """Import ``file`` as module ``name``, with its folder first on ``sys.path``
    while it imports (as ``/var/task`` is in Lambda)."""
    module_name = file.stem
    if not file.is_file():
        raise _InitError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': No module named '{module_name}'"
        )
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise _InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}'")
    module = importlib.util.module_from_spec(spec)
    with _import_lock:
        sys.modules[name] = module
        sys.path.insert(0, str(code_dir))
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            log.exception("importing %s failed", file)
            raise _InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from exc
        finally:
            sys.path.remove(str(code_dir))
    return module


def load_functions(stack: Stack, root: Path = ROOT) -> dict[str, LocalFunction]:
    return {logical: LocalFunction(config) for logical, config in function_configs(stack, root).items()}


def find_function(functions: Mapping[str, LocalFunction], name: str) -> LocalFunction | None:
    """By logical id, or by an ARN (full or partial, with or without a
    qualifier) whose function name is the logical id."""
    if name in functions:
        return functions[name]
    parts = name.split(":")
    if "function" in parts:
        after = parts[parts.index("function") + 1 :]
        if after and after[0] in functions and len(after) <= 2:
            return functions[after[0]]
    if len(parts) == 2 and parts[0] in functions:  # name:qualifier
        return functions[parts[0]]
    return None
