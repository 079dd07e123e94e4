"""SnapStart: every execution environment restored from one snapshot starts
from the same memory, the one left by the functions' init (their imports).
Nothing unique may be made there, and nothing unique may come from state
that init leaves behind: job ids (ULIDs), lease tokens and bulk keys come
from ``os.urandom``/``secrets``, fresh in each environment.

A restore is simulated with ``fork``: the children of one process that imported
every handler share its memory, as restored environments share a snapshot's.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from local.template import ROOT, load_template

HANDLER_DIRS = sorted(p.parent for p in (ROOT / "functions").glob("*/app.py"))


def template_handler_dirs() -> list[Path]:
    """The folders of the template's functions: what Lambda imports at init."""
    return sorted(
        (ROOT / v["Properties"]["CodeUri"]).resolve()
        for v in load_template()["Resources"].values()
        if v["Type"] == "AWS::Serverless::Function"
    )


CODE_FILES = sorted([*(ROOT / "common").rglob("*.py"), *(ROOT / "functions").rglob("*.py")])

# Imports every handler as Lambda's init does (each under its own name), then
# reports what init left behind and, from two forked "restored" children, the
# ids each makes at the same millisecond.
_SNAPSHOT_AND_RESTORE = textwrap.dedent(
    """
    import importlib.util, json, os, random, sys
    from datetime import datetime, UTC

    seeded = []
    original_seed = random.Random.seed
    def recording_seed(self, *args, **kwargs):
        seeded.append(repr(args[:1]))
        return original_seed(self, *args, **kwargs)
    random.Random.seed = recording_seed

    for index, folder in enumerate(sys.argv[1:]):
        spec = importlib.util.spec_from_file_location(f"handler_{index}", os.path.join(folder, "app.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)

    import ulid
    from common.logic import sending
    from common.models.job import new_job_id

    report = {
        "seeded_at_import": seeded,
        "ulid_state_untouched": ulid.default_generator.policy.prev_timestamp == ulid.constants.MIN_TIMESTAMP,
    }
    moment = datetime(2026, 12, 2, 3, 0, 0, 123000, tzinfo=UTC)
    # The control: a job id made before the "snapshot" leaves the generator's
    # same-millisecond state behind, shared by every child.
    earlier = datetime(2026, 12, 2, 2, 0, 0, 456000, tzinfo=UTC)
    new_job_id(earlier)
    children = []
    for _ in range(2):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            made = {
                "after_init_state": new_job_id(earlier)[0],  # first: the state init left
                "job_ids": [new_job_id(moment)[0] for _ in range(3)],
                "lease_token": sending.new_lease_token(),
                "jitter": [sending.small_jitter(10_000) for _ in range(3)],
            }
            os.write(write, json.dumps(made).encode())
            os._exit(0)
        os.close(write)
        children.append((pid, read))
    restored = []
    for pid, read in children:
        with os.fdopen(read) as pipe:
            restored.append(json.loads(pipe.read()))
        os.waitpid(pid, 0)
    report["restored"] = restored
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def restored_report() -> dict[str, object]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_SERVICE_NAME": "email-operations",
        "POWERTOOLS_METRICS_NAMESPACE": "EmailOperationsTest",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", _SNAPSHOT_AND_RESTORE, *map(str, HANDLER_DIRS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is how a restore is simulated")
def test_two_restored_environments_make_different_job_ids_in_the_same_millisecond(restored_report) -> None:
    first, second = restored_report["restored"]
    # Every function of the template was imported into the "snapshot"
    assert template_handler_dirs() == HANDLER_DIRS
    assert set(first["job_ids"]).isdisjoint(second["job_ids"])
    # the same millisecond in both: only the random part tells them apart
    assert {job_id[:10] for job_id in first["job_ids"] + second["job_ids"]} == {first["job_ids"][0][:10]}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is how a restore is simulated")
def test_two_restored_environments_make_different_lease_tokens_and_jitter(restored_report) -> None:
    first, second = restored_report["restored"]
    assert first["lease_token"] != second["lease_token"]
    assert len(first["lease_token"]) == 32
    assert first["jitter"] != second["jitter"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is how a restore is simulated")
def test_the_simulation_does_share_state_the_way_a_snapshot_does(restored_report) -> None:
    # The checks above could not fail if fork did not share memory: a job id
    # made at init leaves state that makes both children's next id in that
    # millisecond the same. This is why init must make none.
    first, second = restored_report["restored"]
    assert first["after_init_state"] == second["after_init_state"]


def test_init_makes_no_ulid_and_seeds_no_random(restored_report) -> None:
    # No job id was made while the handlers were imported (the ULID generator's
    # same-millisecond state is untouched), and nothing seeded `random`.
    assert restored_report["ulid_state_untouched"] is True
    assert restored_report["seeded_at_import"] == []


def test_no_module_of_ours_uses_the_random_module() -> None:
    # `random` is seeded once per process: after a restore, every environment
    # would draw the same numbers. Anything unique comes from `secrets`.
    offenders = []
    for path in CODE_FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "random" or name.startswith(("random.", "uuid")) for name in names):
                offenders.append(str(Path(path).relative_to(ROOT)))
    assert offenders == []
