"""The artifacts `sam deploy` ships (.aws-sam/build, built from template.yaml
as it is): each function's own code, the layer with `common/` and the pinned
dependencies, compiled for the template's runtime and architecture."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from local.build import sam_environment
from local.template import ROOT
from tests.build.conftest import assert_same_files, built_template, distributions, layers

pytestmark = pytest.mark.build

# ELF e_machine values (the bytes at offset 18, little-endian)
ELF_MACHINES = {"arm64": 183, "x86_64": 62}


def _requirements() -> dict[str, str]:
    pins = {}
    for raw in (ROOT / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
    return pins


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    return int.from_bytes(header[18:20], "little")


def test_every_function_is_built_from_its_own_code_only(template, deploy_build):
    built = built_template(deploy_build)
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        source = ROOT / resource["Properties"]["CodeUri"]
        # Byte for byte the source folder: no stray copy of common/ beside it
        assert_same_files(deploy_build / logical, source)
        props = built["Resources"][logical]["Properties"]
        assert props["CodeUri"] == logical
        # ... and runs with the layer
        attached = props.get("Layers") or built["Globals"]["Function"]["Layers"]
        assert [{"Ref": name} for name in layers(template)] == attached


def test_the_page_function_carries_the_pages_files_as_tested(deploy_build):
    # functions/page/web links to web/; sam build copies the files themselves
    assert_same_files(deploy_build / "PageFunction" / "web", ROOT / "web")
    assert (deploy_build / "PageFunction" / "web" / "index.html").is_file()


def test_the_layer_holds_common_exactly_as_tested(template, deploy_build):
    for logical in layers(template):
        assert_same_files(deploy_build / logical / "python" / "common", ROOT / "common")


def test_the_layer_has_every_pinned_requirement_at_its_pinned_version(template, deploy_build):
    for logical in layers(template):
        installed = distributions(deploy_build / logical / "python")
        for name, version in _requirements().items():
            assert installed.get(name) == version, f"{logical}: {name} {installed.get(name)} != {version}"


def test_compiled_code_is_for_the_templates_runtime_and_architecture(template, deploy_build):
    runtime = template["Globals"]["Function"]["Runtime"]  # e.g. python3.13
    architecture = template["Globals"]["Function"]["Architectures"][0]
    tag = "cpython-" + runtime.removeprefix("python").replace(".", "")
    for logical, layer in layers(template).items():
        assert layer["Metadata"]["BuildArchitecture"] == architecture
        extensions = list((deploy_build / logical / "python").rglob("*.so"))
        assert extensions, "pydantic-core at least ships compiled code"
        for extension in extensions:
            assert _elf_machine(extension) == ELF_MACHINES[architecture], extension
            if ".cpython-" in extension.name:
                assert tag in extension.name, extension


# What the runtime's Python says of each .py file of a layer: its bytecode is
# missing, or for another Python, or not hash-based and unchecked, or not of that source.
_BYTECODE_CHECK = """
import importlib.util, json, pathlib, sys
site, problems, checked = pathlib.Path(sys.argv[1]), [], 0
for source in sorted(site.rglob("*.py")):
    checked += 1
    cached = pathlib.Path(importlib.util.cache_from_source(str(source)))
    if not cached.is_file():
        problems.append([str(source.relative_to(site)), "no bytecode"])
        continue
    header = cached.read_bytes()[:16]
    if header[:4] != importlib.util.MAGIC_NUMBER:
        problems.append([str(source.relative_to(site)), "bytecode of another Python"])
    elif int.from_bytes(header[4:8], "little") != 1:
        problems.append([str(source.relative_to(site)), "not unchecked hash-based bytecode"])
    elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
        problems.append([str(source.relative_to(site)), "bytecode of another source"])
print(json.dumps({"checked": checked, "problems": problems}))
"""


def test_the_layer_ships_the_runtimes_bytecode_of_every_module(template, deploy_build):
    # Lambda cannot write bytecode to a layer (read-only), so what the layer does not
    # ship is compiled at every cold start; hash-based, as ZIP keeps no exact timestamps.
    runtime = template["Globals"]["Function"]["Runtime"]
    env = sam_environment({runtime})  # the runtime's Python, as make build found it
    python = shutil.which(runtime, path=env.get("PATH"))
    assert python, f"no {runtime} on PATH (make build needs it too)"
    for logical in layers(template):
        site = deploy_build / logical / "python"
        done = subprocess.run(  # noqa: S603 - the runtime's Python, our own script
            [python, "-I", "-c", _BYTECODE_CHECK, str(site)], env=env, capture_output=True, text=True, check=True
        )
        report = json.loads(done.stdout)
        assert report["checked"] > 1000, "common and the dependencies: over a thousand modules"
        assert report["problems"] == []
        assert (site / "common" / "models" / "__pycache__").is_dir()
