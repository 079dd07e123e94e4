"""The artifacts `sam deploy` ships (.aws-sam/build, built from template.yaml
as it is): each function's own code, the layer with `common/` and the pinned
dependencies, compiled for the template's runtime and architecture."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
