"""Handlers run in-process as Lambda runs them, and the Invoke API answers as Lambda's does."""

from __future__ import annotations

import io
import json
import logging
import sys
import textwrap
import threading

import boto3
import pytest
from botocore.config import Config

from common.adapters.observability import logger as powertools_logger
from local import httpd
from local.lambda_api import LambdaApi
from local.runtime import FunctionConfig, LocalFunction, LocalLogFormatter, find_function, function_configs
from local.template import ROOT, Stack, default_parameters, load_template

HANDLER = """
import os
calls = []

def handler(event, context):
    calls.append(event)
    if event.get("fail"):
        raise ValueError("asked to fail")
    if event.get("unserialisable"):
        return object()
    return {"got": event, "function": context.function_name, "arn": context.invoked_function_arn,
            "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 30000,
            "request_id": context.aws_request_id}
"""


def _function(tmp_path, source=HANDLER, handler="app.handler", name="Fn"):
    code = tmp_path / name
    code.mkdir()
    (code / "app.py").write_text(textwrap.dedent(source))
    config = FunctionConfig(
        logical_id=name,
        code_dir=code,
        handler=handler,
        timeout_seconds=30,
        memory_mb=512,
        runtime="python3.13",
        region="us-east-1",
        account="123456789012",
    )
    return LocalFunction(config)


def test_a_handler_gets_the_event_and_a_lambda_context(tmp_path):
    function = _function(tmp_path)

    result = function.invoke({"a": 1})

    assert not result.failed
    assert result.payload["got"] == {"a": 1}
    assert result.payload["function"] == "Fn"
    assert result.payload["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:Fn"
    assert result.payload["remaining_ok"] is True
    assert result.payload["request_id"] == result.request_id


def test_an_exception_comes_back_as_lambdas_error_object(tmp_path):
    result = _function(tmp_path).invoke({"fail": True})

    assert result.failed
    assert result.payload["errorType"] == "ValueError"
    assert result.payload["errorMessage"] == "asked to fail"
    assert result.payload["requestId"] == result.request_id
    # The trace starts in the handler's own file, not in the local stack
    assert "app.py" in result.payload["stackTrace"][0]
    assert not any("local/runtime.py" in line for line in result.payload["stackTrace"])


def test_a_result_that_is_not_json_is_a_marshal_error(tmp_path):
    result = _function(tmp_path).invoke({"unserialisable": True})
    assert result.failed
    assert result.payload["errorType"] == "Runtime.MarshalError"


def test_the_module_is_imported_once_and_events_are_copies(tmp_path):
    function = _function(tmp_path)
    event = {"n": [1]}

    function.invoke(event)
    function.invoke(event)

    module = next(m for name, m in sys.modules.items() if name.startswith(f"_local_Fn_{id(function):x}_"))
    assert len(module.calls) == 2  # one module, two invocations
    assert module.calls[0] is not event  # the handler got a JSON copy


def test_each_execution_environment_imports_the_handler_of_its_own(tmp_path):
    first = _function(tmp_path)
    second = LocalFunction(first.config)

    first.invoke({"n": 1})
    second.invoke({"n": 2})
    second.invoke({"n": 3})

    modules = {f: sys.modules[n] for f in (first, second) for n in sys.modules if n.startswith(f"_local_Fn_{id(f):x}_")}
    assert [len(modules[first].calls), len(modules[second].calls)] == [1, 2]


def test_import_errors_and_missing_handlers_are_reported_as_lambda_reports_them(tmp_path):
    broken = _function(tmp_path, source="import no_such_module\n", name="Broken")
    missing = _function(tmp_path, handler="app.nothing", name="Missing")

    assert broken.invoke({}).payload["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module" in broken.invoke({}).payload["errorMessage"]
    assert missing.invoke({}).payload["errorType"] == "Runtime.HandlerNotFound"


def test_functions_are_read_from_the_template_with_globals_merged():
    template = load_template()
    stack = Stack(template=template, parameters=default_parameters(template))

    configs = function_configs(stack)

    assert set(configs) == set(stack.functions())
    for logical, config in configs.items():
        props = {**template["Globals"]["Function"], **template["Resources"][logical]["Properties"]}
        assert config.code_dir == (ROOT / props["CodeUri"]).resolve()
        assert config.handler == props["Handler"]
        assert config.timeout_seconds == props["Timeout"]
        assert (config.code_dir / (config.handler.split(".")[0] + ".py")).is_file()


def test_a_function_is_found_by_name_or_by_arn():
    functions = {"EnqueueFunction": object()}
    arn = "arn:aws:lambda:us-east-1:123456789012:function:EnqueueFunction"
    for name in [
        "EnqueueFunction",
        arn,
        f"{arn}:$LATEST",
        "123456789012:function:EnqueueFunction",
        "EnqueueFunction:1",
    ]:
        assert find_function(functions, name) is functions["EnqueueFunction"], name
    for name in ["Nope", "arn:aws:lambda:us-east-1:123456789012:function:Nope", "Enqueue"]:
        assert find_function(functions, name) is None, name


# Two functions logging through the project's one Powertools logger, as the
# template's handlers do; ``gate`` makes the second enter while the first runs.
GATE = """
import threading
first_entered = threading.Event()
second_logged = threading.Event()
"""
LOGGING_HANDLER = """
import gate
from common.adapters.observability import logger

@logger.inject_lambda_context(log_event=False)
def handler(event, context):
    if event["role"] == "first":
        gate.first_entered.set()
        assert gate.second_logged.wait(10)
        logger.info("line of the first")
    else:
        assert gate.first_entered.wait(10)
        logger.info("line of the second")
        gate.second_logged.set()
    return {"request_id": context.aws_request_id}
"""


def test_each_log_line_names_the_function_that_wrote_it_while_others_run(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "gate.py").write_text(GATE)
    monkeypatch.syspath_prepend(str(shared))
    monkeypatch.delitem(sys.modules, "gate", raising=False)
    first = _function(tmp_path, source=LOGGING_HANDLER, name="FirstFunction")
    second = _function(tmp_path, source=LOGGING_HANDLER, name="SecondFunction")
    output = io.StringIO()
    previous = powertools_logger.registered_handler.setStream(output)
    results = {}
    try:
        # The second function starts (and appends its Lambda context keys to
        # the shared logger) while the first is still running
        threads = [
            threading.Thread(target=lambda f=f, role=role: results.update({role: f.invoke({"role": role})}))
            for f, role in ((first, "first"), (second, "second"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    finally:
        powertools_logger.registered_handler.setStream(previous)

    lines = {line["message"]: line for line in map(json.loads, output.getvalue().splitlines())}
    assert not results["first"].failed
    assert not results["second"].failed
    for role, function in (("first", first), ("second", second)):
        line = lines[f"line of the {role}"]
        assert line["function_name"] == function.name
        assert line["function_request_id"] == results[role].request_id
        assert line["function_arn"] == function.config.arn
        assert line["cold_start"] is True


def test_the_stacks_own_lines_name_the_running_function(tmp_path):
    source = """
import logging

def handler(event, context):
    logging.getLogger("some.library").warning("a library speaks")
    return {}
"""
    function = _function(tmp_path, source=source, name="TalkingFunction")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    logging.getLogger("some.library").addHandler(keep)
    try:
        function.invoke({})
        logging.getLogger("some.library").warning("outside any function")
    finally:
        logging.getLogger("some.library").removeHandler(keep)

    inside, outside = (LocalLogFormatter().format(r) for r in records)
    assert inside.endswith("WARNING some.library [TalkingFunction]: a library speaks")
    assert outside.endswith("WARNING some.library: outside any function")


@pytest.fixture
def invoke_api(tmp_path):
    """The Invoke API on a free port, serving one function, for a real boto3 client."""
    function = _function(tmp_path, name="EnqueueFunction")
    server = httpd.bind(0, "EMAILOPS_LAMBDA_PORT", LambdaApi({"EnqueueFunction": function}), "test")
    httpd.serve_in_background(server, "test-lambda")
    client = boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}),
    )
    yield client
    server.shutdown()
    server.server_close()


def test_boto3_invokes_through_the_invoke_api(invoke_api):
    arn = "arn:aws:lambda:us-east-1:123456789012:function:EnqueueFunction"

    response = invoke_api.invoke(FunctionName=arn, Payload=json.dumps({"x": 1}).encode())

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read())["got"] == {"x": 1}


def test_a_function_error_is_answered_as_lambda_answers_it(invoke_api):
    response = invoke_api.invoke(FunctionName="EnqueueFunction", Payload=b'{"fail": true}')

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Payload"].read())
    assert set(body) == {"errorMessage", "errorType", "requestId", "stackTrace"}


def test_event_invocations_are_accepted_at_once(invoke_api):
    response = invoke_api.invoke(FunctionName="EnqueueFunction", InvocationType="Event", Payload=b"{}")
    assert response["StatusCode"] == 202


def test_an_unknown_function_and_a_bad_payload_are_client_errors(invoke_api):
    with pytest.raises(invoke_api.exceptions.ResourceNotFoundException):
        invoke_api.invoke(FunctionName="Nope", Payload=b"{}")
    with pytest.raises(invoke_api.exceptions.InvalidRequestContentException):
        invoke_api.invoke(FunctionName="EnqueueFunction", Payload=b"{not json")
