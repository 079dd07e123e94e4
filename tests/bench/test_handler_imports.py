"""What importing each handler loads and leaves behind, in a fresh process that
sees what a deployed function sees (figure 2's path and environment)."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from benchmarks import coldstart

# The functions that send (docs/benchmarks.md, figure 2): none of them uses boto3's
# resources or S3 transfers, so none loads boto3 (botocore makes their clients).
SENDING = ("EnqueueFunction", "SendWorkerFunction", "SweeperFunction", "SesEventsFunction")
# The admin API's functions: Powertools' event handler, its packages deferred
# (common.adapters.deferred_imports).
API = ("ListJobsFunction", "BulkQueueFunction", "JobActionsFunction", "SuppressionsFunction", "UnsubscribeFunction")
_PROBE = """
import gc, json, sys
import app
print(json.dumps({
    "modules": sorted({name.split(".")[0] for name in sys.modules}),
    "ours": sorted(name for name in sys.modules if name.startswith("common.")),
    "parameters": "aws_lambda_powertools.utilities.parameters" in sys.modules,
    "gc_enabled": gc.isenabled(),
    "frozen": gc.get_freeze_count(),
    "app_from": app.__file__,
    "powertools": sorted(name for name in sys.modules if name.startswith("aws_lambda_powertools.")),
}))
"""


_SITE: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _lambda_site(tmp_path_factory: pytest.TempPathFactory) -> None:
    _SITE.append(coldstart.lambda_like_site(tmp_path_factory.mktemp("lambda-site")))


@cache
def _imported(function: str) -> dict[str, Any]:
    code_dir = coldstart.ROOT / "functions" / coldstart.HANDLERS[function]
    env = coldstart.lambda_environment(function, code_dir, coldstart.template_environments().get(function, {}))
    env["PYTHONPATH"] = f"{code_dir}:{coldstart.ROOT}:{_SITE[-1]}"
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-S", "-c", _PROBE], env=env, cwd=code_dir, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["app_from"] == str(code_dir / "app.py")
    return result


@pytest.mark.parametrize("function", sorted(coldstart.HANDLERS))
def test_no_function_loads_boto3(function: str) -> None:
    """Every client is botocore's; bulk sends keep Powertools' idempotency records
    over it (common.adapters.idempotency_store); the functions that read a secret
    keep it themselves (common.adapters.secrets)."""
    probe = _imported(function)
    modules = set(probe["modules"])
    assert "botocore" in modules or function == "PageFunction"
    assert probe["parameters"] is False
    assert not modules & {"boto3", "s3transfer", "multiprocessing"}


@pytest.mark.parametrize("function", API)
def test_the_api_functions_load_one_resolver_and_its_event_classes(function: str) -> None:
    probe = _imported(function)
    powertools = set(probe["powertools"])
    assert "aws_lambda_powertools.event_handler.api_gateway" in powertools
    assert "aws_lambda_powertools.utilities.data_classes.api_gateway_proxy_event" in powertools
    assert "asyncio" not in probe["modules"]  # the AppSync resolver's
    assert (
        not {
            "aws_lambda_powertools.event_handler.appsync",
            "aws_lambda_powertools.event_handler.bedrock_agent",
            "aws_lambda_powertools.event_handler.vpc_lattice",
            "aws_lambda_powertools.utilities.data_classes.kafka_event",
            "aws_lambda_powertools.utilities.data_classes.s3_event",
        }
        & powertools
    )
    # No settings of the functions that send.
    assert not set(probe["ours"]) & {"common.models.pipeline_settings", "common.models.worker_settings"}
    # Bulk sends keep idempotency records with Powertools' logic, over botocore.
    idempotency = "aws_lambda_powertools.utilities.idempotency.idempotency" in powertools
    assert idempotency == (function == "BulkQueueFunction")
    assert "aws_lambda_powertools.utilities.idempotency.persistence.dynamodb" not in powertools


@pytest.mark.parametrize("function", SENDING)
def test_the_sending_functions_load_none_of_the_admin_apis_code(function: str) -> None:
    probe = _imported(function)
    assert "asyncio" not in probe["modules"]  # Powertools' event handler package brings it
    ours = set(probe["ours"])
    assert "common.models.job" in ours
    assert not ours & {"common.models.api", "common.models.api_settings", "common.adapters.api"}
    # Requests are built by the one function that takes them.
    assert ("common.models.requests" in ours) == (function == "EnqueueFunction")


# Models only one function uses (its settings among them), in modules of their own: no other function builds them.
OWN_MODELS = {
    "common.models.worker_settings": "SendWorkerFunction",
    "common.models.listing": "ListJobsFunction",
    "common.models.bulk_send": "BulkQueueFunction",
    "common.models.actions": "JobActionsFunction",
    "common.models.suppression_list": "SuppressionsFunction",
    "common.logic.suppression_list": "SuppressionsFunction",
}


@pytest.mark.parametrize("function", sorted(coldstart.HANDLERS))
def test_a_function_builds_no_other_functions_own_models(function: str) -> None:
    ours = set(_imported(function)["ours"])
    assert {module for module in OWN_MODELS if module in ours} == {
        module for module, owner in OWN_MODELS.items() if owner == function
    }


@pytest.mark.parametrize("function", sorted(coldstart.HANDLERS))
def test_each_handler_collects_garbage_again_after_its_imports_with_them_frozen(function: str) -> None:
    probe = _imported(function)
    assert probe["gc_enabled"] is True
    # What the imports made sits in the permanent generation: thousands of objects.
    assert probe["frozen"] > 10_000


def test_a_handler_pauses_collection_before_its_first_import() -> None:
    for function, folder in coldstart.HANDLERS.items():
        source = (coldstart.ROOT / "functions" / folder / "app.py").read_text(encoding="utf-8")
        statements = [
            line
            for line in source.split('"""', 2)[2].splitlines()
            if line.strip() and not line.startswith("#") and "__future__" not in line
        ]
        assert statements[:2] == ["import gc", "gc.disable()"], function
        assert statements[-2:] == ["gc.freeze()", "gc.enable()"], function
