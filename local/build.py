"""``make build``: ``sam validate --lint``, then ``sam build`` (no containers)
twice from the same sources:

- ``.aws-sam/build``: the template as it is (python3.13, arm64). This is
  what ``sam deploy`` ships.
- ``.aws-sam/build-host``: the same template with only the runtime and the
  architecture changed to this machine's (``host_template``), so the
  built-artifact tests can import and run every built handler here: arm64
  wheels with compiled code (``pydantic_core``) do not load on x86_64, nor
  cp313 ones in Python 3.11.

The layer is built by ``layer/Makefile`` (pip for the runtime and the
architecture, then the runtime's bytecode); this module tells it the host's
for the twin.

The tests then prove the two builds hold the same code and the same pinned
dependency versions, that the deployed one's compiled code is for the
template's runtime and architecture, and run the host build's handlers from
their built folders (docs/adr/0034-layer-and-built-artifacts.md).
"""

from __future__ import annotations

import copy
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from local.template import REGION, ROOT, TEMPLATE, load_template

BUILD_ROOT = ROOT / ".aws-sam"
DEPLOY_DIR = BUILD_ROOT / "build"
HOST_DIR = BUILD_ROOT / "build-host"
HOST_TEMPLATE = BUILD_ROOT / "host" / "template.yaml"

_LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
# The wheels' platform tags for each Lambda architecture: what layer/Makefile's pip
# may install (Lambda's python3.13 runs on Amazon Linux 2023, glibc 2.34).
LAYER_PLATFORMS = {
    "arm64": "manylinux2014_aarch64 manylinux_2_28_aarch64",
    "x86_64": "manylinux2014_x86_64 manylinux_2_28_x86_64",
}


class BuildError(Exception):
    pass


def host_runtime() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def host_architecture() -> str:
    machine = platform.machine().lower()
    if machine not in _ARCHITECTURES:
        raise BuildError(f"no Lambda architecture for this machine ({machine})")
    return _ARCHITECTURES[machine]


def host_template(template: dict[str, Any], *, runtime: str, architecture: str) -> dict[str, Any]:
    """``template`` with every Python runtime and every architecture (of
    functions, layers and their build metadata) replaced; nothing else."""
    changed = copy.deepcopy(template)

    def function(props: dict[str, Any]) -> None:
        if "Runtime" in props:
            props["Runtime"] = runtime
        if "Architectures" in props:
            props["Architectures"] = [architecture]

    function(changed.get("Globals", {}).get("Function", {}))
    for resource in changed["Resources"].values():
        props = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Serverless::Function":
            function(props)
        elif resource["Type"] in _LAYER_TYPES:
            if "CompatibleRuntimes" in props:
                props["CompatibleRuntimes"] = [runtime]
            if "CompatibleArchitectures" in props:
                props["CompatibleArchitectures"] = [architecture]
            metadata = resource.get("Metadata") or {}
            if str(metadata.get("BuildMethod", "")).startswith("python"):
                metadata["BuildMethod"] = runtime
            if "BuildArchitecture" in metadata:
                metadata["BuildArchitecture"] = architecture
    return changed


def template_runtimes(template: dict[str, Any]) -> set[str]:
    runtimes = set()
    globals_runtime = template.get("Globals", {}).get("Function", {}).get("Runtime")
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            runtime = (resource.get("Properties") or {}).get("Runtime", globals_runtime)
            if runtime:
                runtimes.add(str(runtime))
        if resource["Type"] in _LAYER_TYPES:
            method = str((resource.get("Metadata") or {}).get("BuildMethod", ""))
            if method.startswith("python"):
                runtimes.add(method)
    return runtimes


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def sam_environment(runtimes: set[str]) -> dict[str, str]:
    """The environment ``sam build`` needs: no telemetry, and a ``pythonX.Y``
    on PATH for each runtime (with pyenv: every matching installed version
    made visible through ``PYENV_VERSION``)."""
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    pyenv = shutil.which("pyenv")
    if pyenv:
        installed = subprocess.run(  # noqa: S603 - fixed arguments
            [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
        ).stdout.split()
        current = subprocess.run(  # noqa: S603 - fixed arguments
            [pyenv, "version-name"], capture_output=True, text=True, check=False
        ).stdout.strip()
        wanted = [v for v in current.split(":") if v]
        for runtime in sorted(runtimes):
            version = runtime.removeprefix("python")
            matches = sorted((v for v in installed if v == version or v.startswith(f"{version}.")), key=_version_key)
            if matches and matches[-1] not in wanted:
                wanted.append(matches[-1])
        if wanted:
            env["PYENV_VERSION"] = ":".join(wanted)
    missing = [runtime for runtime in sorted(runtimes) if not _python_works(runtime, env)]
    if missing:
        raise BuildError(
            f"sam build runs pip under each function runtime's Python and finds no {', '.join(missing)} on PATH:"
            " install it (e.g. `pyenv install 3.13`, or your system's python3.13 package) and try again"
        )
    return env


def _python_works(runtime: str, env: dict[str, str]) -> bool:
    executable = shutil.which(runtime, path=env.get("PATH"))
    if executable is None:
        return False
    result = subprocess.run([executable, "--version"], env=env, capture_output=True, check=False)  # noqa: S603
    return result.returncode == 0


def _run(command: list[str], env: dict[str, str]) -> None:
    print("+ " + " ".join(str(c) for c in command), flush=True)
    if subprocess.run(command, cwd=ROOT, env=env, check=False).returncode != 0:  # noqa: S603 - our own command
        raise BuildError(f"{command[1]} failed (see above)")


def build(sam: str) -> None:
    template = load_template()
    runtime, architecture = host_runtime(), host_architecture()
    env = sam_environment(template_runtimes(template) | {runtime})

    _run([sam, "validate", "--lint", "--region", REGION, "--template-file", str(TEMPLATE)], env)
    _run([sam, "build", "--template-file", str(TEMPLATE), "--build-dir", str(DEPLOY_DIR)], env)

    HOST_TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    twin = host_template(template, runtime=runtime, architecture=architecture)
    HOST_TEMPLATE.write_text(
        "# template.yaml with only the runtime and architecture changed to this machine's (local/build.py)\n"
        + yaml.safe_dump(twin, sort_keys=False),
        encoding="utf-8",
    )
    # layer/Makefile builds for the template's runtime and architecture unless told otherwise
    host_env = dict(env, LAYER_PYTHON=runtime, LAYER_PLATFORMS=LAYER_PLATFORMS[architecture])
    _run(
        [
            sam,
            "build",
            "--template-file",
            str(HOST_TEMPLATE),
            "--base-dir",
            str(ROOT),
            "--build-dir",
            str(HOST_DIR),
        ],
        host_env,
    )


def main(sam: str = "sam") -> int:
    if shutil.which(sam) is None and not Path(sam).is_file():
        print(f"error: no sam executable at {sam!r} (make build installs one in .venv-sam)", file=sys.stderr)
        return 2
    try:
        build(sam)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
