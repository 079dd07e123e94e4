"""Tracing: the X-Ray SDK only when the stack traces AWS calls (TraceSdkCalls)."""

from __future__ import annotations

import os
import subprocess
import sys

from common.adapters.observability import NoTracer, tracing_sdk_calls
from local.template import ROOT, load_template


def test_the_no_tracer_decorators_return_the_handler_itself_with_or_without_arguments() -> None:
    tracer = NoTracer()

    def handler(event: object, context: object) -> str:
        return "done"

    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_lambda_handler(capture_response=False)(handler) is handler
    assert tracer.capture_method(handler) is handler
    assert tracer.capture_method(capture_response=False)(handler) is handler
    tracer.put_annotation("job_id", "x")
    tracer.put_metadata("k", {"v": 1})


def test_sdk_tracing_is_on_only_when_the_variable_says_true() -> None:
    assert tracing_sdk_calls({}) is False
    assert tracing_sdk_calls({"TRACE_SDK_CALLS": "false"}) is False
    assert tracing_sdk_calls({"TRACE_SDK_CALLS": "True"}) is True


def test_the_template_sets_it_from_a_parameter_off_by_default() -> None:
    template = load_template()
    assert template["Globals"]["Function"]["Environment"]["Variables"]["TRACE_SDK_CALLS"] == {"Ref": "TraceSdkCalls"}
    assert template["Parameters"]["TraceSdkCalls"]["Default"] == "false"
    # Lambda's own segments stay on
    assert template["Globals"]["Function"]["Tracing"] == "Active"


def _imports_xray(trace: str) -> bool:
    code = (
        "import sys, common.adapters.observability as o; print(type(o.tracer).__name__, 'aws_xray_sdk' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRACE_SDK_CALLS": trace, "POWERTOOLS_TRACE_DISABLED": "1"}
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    name, loaded = done.stdout.split()
    assert name == ("Tracer" if trace == "true" else "NoTracer")
    return loaded == "True"


def test_the_x_ray_sdk_is_imported_only_when_tracing_sdk_calls() -> None:
    assert _imports_xray("false") is False
    assert _imports_xray("true") is True
