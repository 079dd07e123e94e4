"""The local stack's settings, the shared environment of its functions, and
the host twin of the template that the built-artifact tests run."""

from __future__ import annotations

import copy
import threading
import time

import pytest

from local.build import host_template, template_runtimes
from local.runtime import ConfigurationError, shared_environment
from local.stack import Settings, _DynamoDbOneAtATime
from local.template import Stack, default_parameters, load_template


def test_defaults_are_the_contracts():
    settings = Settings.from_env({})
    assert (settings.api_port, settings.lambda_port, settings.aws_port) == (3000, 3001, 5000)
    assert settings.secret == "dev-secret"
    assert settings.api_url == "http://127.0.0.1:3000"


def test_ports_secret_and_template_parameters_come_from_the_environment():
    settings = Settings.from_env(
        {
            "EMAILOPS_API_PORT": "4000",
            "EMAILOPS_LAMBDA_PORT": "4001",
            "EMAILOPS_AWS_PORT": "6000",
            "EMAILOPS_DEV_JWT_SECRET": "s3",
            "EMAILOPS_PARAM_BackoffBaseSeconds": "1",
        }
    )
    assert (settings.api_port, settings.lambda_port, settings.aws_port, settings.secret) == (4000, 4001, 6000, "s3")
    assert settings.parameters == {"BackoffBaseSeconds": "1"}


def test_the_local_stack_sets_no_send_rate_of_its_own_the_workers_read_the_embedded_ses():
    # The workers pace to SES's rate as GetAccount answers it: no template parameter stands in.
    assert "MaxSendRate" not in load_template()["Parameters"]
    assert Settings.from_env({}).template_overrides == {}
    with pytest.raises(ConfigurationError, match="MaxSendRate"):
        Settings.from_env({"EMAILOPS_PARAM_MaxSendRate": "3"})


@pytest.mark.parametrize(
    "env",
    [{"EMAILOPS_API_PORT": "http"}, {"EMAILOPS_AWS_PORT": "70000"}, {"EMAILOPS_PARAM_NoSuchParameter": "1"}],
)
def test_bad_settings_are_refused_with_their_name(env):
    with pytest.raises(ConfigurationError, match=next(iter(env)).removeprefix("EMAILOPS_PARAM_")):
        Settings.from_env(env)


def test_functions_share_one_environment_only_when_they_agree():
    template = load_template()
    stack = Stack(template=template, parameters=default_parameters(template))
    stack.names.update({logical: f"name-{logical}" for logical in template["Resources"]})
    stack.arns.update({logical: f"arn:{logical}" for logical in template["Resources"]})

    merged = shared_environment(stack)
    for logical in stack.functions():
        assert stack.function_environment(logical).items() <= merged.items()

    # Two functions that disagree on a variable cannot share one process
    conflicting = copy.deepcopy(template)
    first, second = list(stack.functions())[:2]
    for logical, value in ((first, "a"), (second, "b")):
        variables = conflicting["Resources"][logical]["Properties"].setdefault("Environment", {"Variables": {}})
        variables["Variables"]["CLASH"] = value
    clash = Stack(template=conflicting, parameters=stack.parameters, names=stack.names, arns=stack.arns)
    with pytest.raises(ConfigurationError, match="CLASH"):
        shared_environment(clash)


def test_a_dynamic_reference_in_a_function_environment_is_refused():
    # A {{resolve:...}} would put a secret's value into the function's configuration
    template = copy.deepcopy(load_template())
    function = next(iter(Stack(template=template, parameters={}).functions()))
    variables = template["Resources"][function]["Properties"].setdefault("Environment", {"Variables": {}})
    variables["Variables"]["KEY"] = {"Fn::Sub": "{{resolve:secretsmanager:${CursorSecret}:SecretString}}"}
    stack = Stack(template=template, parameters=default_parameters(template))
    stack.names.update({logical: f"name-{logical}" for logical in template["Resources"]})
    stack.arns.update({logical: f"arn:{logical}" for logical in template["Resources"]})

    with pytest.raises(ValueError, match="KEY is a dynamic reference"):
        stack.function_environment(function)


def test_the_host_template_changes_runtime_and_architecture_only():
    template = load_template()

    twin = host_template(template, runtime="python3.11", architecture="x86_64")

    assert template_runtimes(twin) == {"python3.11"}
    assert twin["Globals"]["Function"]["Architectures"] == ["x86_64"]
    for resource in twin["Resources"].values():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            assert resource["Metadata"]["BuildArchitecture"] == "x86_64"
            assert resource["Properties"]["CompatibleArchitectures"] == ["x86_64"]
    back = host_template(
        twin,
        runtime=template["Globals"]["Function"]["Runtime"],
        architecture=template["Globals"]["Function"]["Architectures"][0],
    )
    assert back == template
    assert template_runtimes(template) == {template["Globals"]["Function"]["Runtime"]}


def test_the_embedded_aws_handles_dynamodb_requests_one_at_a_time():
    # moto's DynamoDB loses writes under concurrent requests (a failed
    # transaction restores an older copy of the table), so they are serialised
    running, most = 0, {"DynamoDB_20120810.UpdateItem": 0, "AmazonSQS.ReceiveMessage": 0}
    guard = threading.Lock()

    def app(environ, start_response):
        nonlocal running
        target = environ["HTTP_X_AMZ_TARGET"]
        with guard:
            running += 1
            most[target] = max(most[target], running)
        time.sleep(0.05)
        with guard:
            running -= 1
        start_response("200 OK", [])
        return [b"{}"]

    wrapped = _DynamoDbOneAtATime(app)

    def call(target):
        assert list(wrapped({"HTTP_X_AMZ_TARGET": target}, lambda *_: None)) == [b"{}"]

    for target in most:
        threads = [threading.Thread(target=call, args=(target,)) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert most["DynamoDB_20120810.UpdateItem"] == 1
    assert most["AmazonSQS.ReceiveMessage"] > 1  # other services are not held up
