"""What ``make build`` produced (``sam build``): the artifacts ``sam deploy``
ships, and their host-architecture twin that these tests run."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import yaml

from local.build import DEPLOY_DIR, HOST_DIR, HOST_TEMPLATE
from local.template import Stack, default_parameters, load_template


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make build` first (make test does)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def template() -> dict:
    return load_template()


@pytest.fixture(scope="session")
def template_stack(template) -> Stack:
    return Stack(template=template, parameters=default_parameters(template))


@pytest.fixture(scope="session")
def deploy_build() -> Path:
    return _require(DEPLOY_DIR / "template.yaml").parent


@pytest.fixture(scope="session")
def host_build() -> Path:
    return _require(HOST_DIR / "template.yaml").parent


@pytest.fixture(scope="session")
def host_template_file() -> Path:
    return _require(HOST_TEMPLATE)


def built_template(build: Path) -> dict:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: {suffix: loader.construct_object(node)})
    return yaml.load((build / "template.yaml").read_text(), Loader=Loader)  # noqa: S506 - a SafeLoader


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (caches aside) and the SHA-256 of its bytes.
    A linked folder is followed, as ``sam build`` follows it when it copies
    (``functions/page/web`` is ``web/``)."""
    digest = {}
    for top, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = Path(top) / name
            if path.suffix != ".pyc":
                digest[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def assert_same_files(built: Path, source: Path) -> None:
    built_files, source_files = tree_digest(built), tree_digest(source)
    differing = sorted(k for k in built_files.keys() | source_files.keys() if built_files.get(k) != source_files.get(k))
    assert not differing, f"{built} differs from {source} in {differing}: a stale build? `make build` (make test does)"


def layers(template: dict) -> dict[str, dict]:
    return {
        logical: resource
        for logical, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
    }


def distributions(site: Path) -> dict[str, str]:
    """Installed distributions in a layer folder: normalised name -> version."""
    found = {}
    for info in site.glob("*.dist-info"):
        metadata = (info / "METADATA").read_text(errors="replace")
        fields = dict(line.split(": ", 1) for line in metadata.splitlines()[:20] if ": " in line)
        found[fields["Name"].lower().replace("_", "-")] = fields["Version"]
    return found
