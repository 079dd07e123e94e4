"""The HTTP API's own URL in a function's environment: where the local stack serves it."""

from __future__ import annotations

import pytest

from local.template import Stack, default_parameters, load_template


def _stack(api_url: str | None) -> Stack:
    template = load_template()
    stack = Stack(template=template, parameters=default_parameters(template), api_url=api_url)
    stack.names.update({"UnsubscribeSecret": "arn:secret", "BodiesBucket": "b", "ConfigurationSet": "c"})
    stack.names.update({name: f"https://queue/{name}" for name in stack.of_type("AWS::SQS::Queue")})
    stack.arns.update({name: f"arn:queue:{name}" for name in stack.of_type("AWS::SQS::Queue")})
    stack.names["JobsTable"] = "jobs"
    return stack


def test_the_worker_links_under_the_local_api_when_the_stack_serves_it() -> None:
    assert _stack("http://127.0.0.1:3456").function_environment("SendWorkerFunction")["API_BASE_URL"] == (
        "http://127.0.0.1:3456"
    )


def test_elsewhere_it_is_an_execute_api_url_as_in_aws() -> None:
    url = _stack(None).function_environment("SendWorkerFunction")["API_BASE_URL"]
    assert url == "https://httpapi.execute-api.us-east-1.amazonaws.com"


def test_other_subs_are_left_to_the_usual_rules() -> None:
    stack = _stack("http://127.0.0.1:3456")
    assert stack.resolve({"Fn::Sub": "${AWS::Region}.${AWS::URLSuffix}"}) == "us-east-1.amazonaws.com"
    # Only the API's default endpoint URL is translated; its id alone means nothing locally
    with pytest.raises(KeyError, match="HttpApi"):
        stack.resolve({"Fn::Sub": "https://${HttpApi}.example.com"})
