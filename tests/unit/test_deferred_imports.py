"""Powertools' packages loaded without their ``__init__``: every name they export
is still there, the same object as when the package is imported as usual, and
what no function uses is not loaded."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from common.adapters.deferred_imports import POWERTOOLS_PACKAGES, reexports

_EXPORTS = """
import importlib, json, sys
{setup}
found = {{}}
for name in {packages!r}:
    package = importlib.import_module(name)
    found[name] = {{
        attribute: f"{{getattr(package, attribute).__module__}}.{{getattr(package, attribute).__qualname__}}"
        for attribute in package.__all__
    }}
print(json.dumps(found))
"""
_DEFER = (
    "from common.adapters.deferred_imports import defer_powertools_packages\ndeferred = defer_powertools_packages()"
)


def _run(code: str) -> Any:
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_exported_name_is_the_object_the_package_exports() -> None:
    usual = _run(_EXPORTS.format(setup="", packages=POWERTOOLS_PACKAGES))
    deferred = _run(
        _EXPORTS.format(setup=_DEFER + "\nassert len(deferred) == 3, deferred", packages=POWERTOOLS_PACKAGES)
    )
    assert deferred == usual
    assert len(usual["aws_lambda_powertools.event_handler"]) > 10
    # A name that is also a module's name is the function, not the module.
    assert usual["aws_lambda_powertools.utilities.data_classes"]["event_source"].endswith("event_source")


def test_an_api_function_loads_no_resolver_or_event_class_it_does_not_use() -> None:
    loaded = _run(
        _DEFER
        + """
import json, sys
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.data_classes import event_source
APIGatewayHttpResolver(enable_validation=True)
print(json.dumps(sorted(sys.modules)))
"""
    )
    assert "aws_lambda_powertools.event_handler.api_gateway" in loaded
    assert "aws_lambda_powertools.utilities.data_classes.api_gateway_proxy_event" in loaded
    unused = {
        "asyncio",
        "aws_lambda_powertools.event_handler.appsync",
        "aws_lambda_powertools.event_handler.bedrock_agent",
        "aws_lambda_powertools.utilities.data_classes.kafka_event",
        "aws_lambda_powertools.utilities.idempotency.persistence.dynamodb",
        "boto3",
    }
    assert not unused & set(loaded)


def test_a_package_already_imported_or_with_code_in_its_init_is_left_as_it_is(tmp_path: Path) -> None:
    package = tmp_path / "with_code"
    package.mkdir()
    (package / "__init__.py").write_text("from .a import b\nSETTING = b * 2\n")
    (package / "a.py").write_text("b = 21\n")
    result = _run(
        f"""
import json, sys
sys.path.insert(0, {str(tmp_path)!r})
import aws_lambda_powertools.event_handler as usual
from common.adapters.deferred_imports import defer_package, defer_powertools_packages
deferred = defer_package("with_code")
print(json.dumps({{
    "again": defer_powertools_packages(),
    "same": sys.modules["aws_lambda_powertools.event_handler"] is usual,
    "with_code": deferred,
    "left_alone": "with_code" not in sys.modules,
    "usual": __import__("with_code").SETTING,
}}))
"""
    )
    # The event handler's package imported its data classes' as usual too.
    assert result["again"] == ["aws_lambda_powertools.utilities.idempotency"]
    assert result["same"] is True
    assert result["with_code"] is False  # its __init__ computes a value
    assert result["left_alone"] is True
    assert result["usual"] == 42


@pytest.mark.parametrize(
    "source",
    [
        "from .a import b\nx = 1\n",  # code besides the imports
        "from .a import *\n",  # names that cannot be listed
        "from os import path\n",  # a name of another package
        "import pkg.a\n",
        "from .a import b\n__all__ = [name for name in ['b']]\n",
        "def f():\n    pass\n",
    ],
)
def test_an_init_that_does_more_than_re_export_is_not_deferred(source: str) -> None:
    assert reexports("pkg", source) is None


def test_the_names_an_init_re_exports_and_where_from() -> None:
    source = '"""Doc."""\nfrom .a import b, c as d\nfrom pkg.e.f import g\n__all__ = ("b", "d", "g")\n'
    assert reexports("pkg", source) == (
        {"b": ("pkg.a", "b"), "d": ("pkg.a", "c"), "g": ("pkg.e.f", "g")},
        ["b", "d", "g"],
    )
