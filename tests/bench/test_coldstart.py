"""Figure 2's measurement: CPU time of each import, each handler run paired
with a run of ``import boto3``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import botocore
import pytest

from benchmarks import coldstart
from local.template import load_template


def test_each_import_is_timed_in_cpu_time() -> None:
    # Wall time grows with other processes' load; an import's CPU time does not.
    for script in (coldstart._TIMED_IMPORT, coldstart._FIRST_START, coldstart._FLOOR):
        assert "time.process_time()" in script
        assert "perf_counter" not in script


class _Events:
    """First events that say which run they are, and what each run answered."""

    def __init__(self) -> None:
        self.given: list[tuple[str, int]] = []
        self.answered: list[tuple[str, int, dict[str, Any]]] = []

    def event(self, function: str, run: int) -> Any:
        self.given.append((function, run))
        return {"run": run}

    def done(self, function: str, run: int, result: Mapping[str, Any]) -> None:
        self.answered.append((function, run, dict(result)))

    def environment(self, function: str) -> dict[str, str]:
        return {"JOBS_TABLE": "jobs"}


def test_a_cold_start_is_import_and_first_invocation_over_the_floor_run_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The machine gets twice as busy between the two functions: the floor's runs double too,
    # and each ratio stays that of its own window.
    busy = {"factor": 1.0}
    calls: list[str] = []

    def fake_first(
        function: str, event: Any, path: list[Path], env: Mapping[str, str], result: dict[str, Any]
    ) -> coldstart.FirstStart:
        calls.append(f"{function} run {event['run']}")
        result["job_ids"] = ["J"]
        seconds = {"EnqueueFunction": (0.140, 0.060), "SweeperFunction": (0.120, 0.030)}[function]
        clients = ("dynamodb", "sqs") if function == "EnqueueFunction" else ("dynamodb",)
        # Enqueue's first invocation makes three calls, 20 ms of its 60 (their operations vary by run).
        made: tuple[int, float, tuple[tuple[str, int], ...]] = (
            (3, 0.020, (("dynamodb PutItem", 2), ("sqs SendMessage", 1)))
            if function == "EnqueueFunction"
            else (0, 0.0, ())
        )
        if function == "EnqueueFunction" and event["run"] == 1:
            made = (4, 0.020, (("dynamodb PutItem", 4),))
        return coldstart.FirstStart(
            seconds[0] * busy["factor"],
            seconds[1] * busy["factor"],
            clients,
            "",
            made[0],
            made[1] * busy["factor"],
            made[2],
        )

    def fake_floor(services: tuple[str, ...], path: list[Path], env: Mapping[str, str]) -> tuple[float, float]:
        calls.append(f"floor {','.join(services)}")
        return 0.100 * busy["factor"], 0.025 * len(services) * busy["factor"]

    def fake_importtime(
        module: str, path: list[Path], env: Mapping[str, str], *, importtime: bool = False
    ) -> tuple[float, str]:
        busy["factor"] = 2.0
        return 0.0, ""

    monkeypatch.setattr(coldstart, "_run_first", fake_first)
    monkeypatch.setattr(coldstart, "_run_floor", fake_floor)
    monkeypatch.setattr(coldstart, "_run", fake_importtime)
    events = _Events()
    result = coldstart.measure(runs=3, site=Path("."), events=events, functions=["EnqueueFunction", "SweeperFunction"])

    found = {f.function: f for f in result.functions}
    # (140 + 60) / (100 + 2 x 25) and (120 + 30) / (100 + 25), whatever the load
    assert round(found["EnqueueFunction"].ratio_to_floor, 6) == round(200 / 150, 6)
    assert round(found["SweeperFunction"].ratio_to_floor, 6) == 1.2
    # Less its calls' CPU: (140 + 60 - 20) / 150; the sweeper made none
    assert round(found["EnqueueFunction"].ratio_without_calls, 6) == 1.2
    assert round(found["SweeperFunction"].ratio_without_calls, 6) == 1.2
    # The median run's calls, by operation
    assert found["EnqueueFunction"].calls == 3
    assert round(found["EnqueueFunction"].calls_ms) == 20
    assert found["EnqueueFunction"].operations == (("dynamodb PutItem", 2), ("sqs SendMessage", 1))
    # The import alone, over the floor's import boto3
    assert round(found["EnqueueFunction"].ratio_to_boto3, 6) == 1.4
    assert found["EnqueueFunction"].clients == ("dynamodb", "sqs")
    assert round(found["SweeperFunction"].invoke_ms) == 60  # the busy half of the runs
    # A warm-up run (which names the clients), then the floor of those clients before each run
    assert calls[:6] == [
        "EnqueueFunction run -1",
        "floor dynamodb,sqs",
        "floor dynamodb,sqs",
        "EnqueueFunction run 0",
        "floor dynamodb,sqs",
        "EnqueueFunction run 1",
    ]
    # Each run had its own event, and what it answered went back
    assert events.given[:4] == [
        ("EnqueueFunction", -1),
        ("EnqueueFunction", 0),
        ("EnqueueFunction", 1),
        ("EnqueueFunction", 2),
    ]
    assert [a[2]["job_ids"] for a in events.answered[:2]] == [["J"], ["J"]]
    assert coldstart.printed_line(result) == f"cold start ÷ floor, worst function: {200 / 150:.2f}"


def test_a_first_invocation_that_fails_or_answers_5xx_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([{"import": 0.1, "invoke": 0.05, "error": "", "status": 502, "services": ["dynamodb"]}])
    monkeypatch.setattr(coldstart, "_run_script", lambda *args: next(answers))

    one = coldstart._run_first("ListJobsFunction", {}, [Path(".")], {}, {})

    assert one.error == "answered 502" and one.services == ("dynamodb",)


def test_figure_2_measured_alone_replaces_only_its_own_rows_section_and_note() -> None:
    from benchmarks import report

    page = "\n".join(
        [
            "# Benchmarks",
            "| 1. AWS calls | enqueue 1 | 2 | 2 | 1.00x |",
            "| 2. Cold start | import of EnqueueFunction | 500 ms | import boto3: 200 ms | 2.50x |",
            "| 2. Cold start | import of GoneFunction | 500 ms | import boto3: 200 ms | 2.50x |",
            "| 3. List cost | worst | 4.33 | 1 | 4.33x |",
            "",
            "- **Cold start**: 2.5x to 2.5x, old words",
            "- **List cost**: kept",
            "- **Pipeline**: kept",
            "## 2. Cold start",
            "old section text",
            "## 3. List cost",
            "list text",
        ]
    )
    cold = coldstart.ColdStarts(
        boto3_ms=200.0,
        runs=7,
        functions=[
            coldstart.ColdStart(
                "EnqueueFunction",
                280.0,
                7,
                1.4,
                [],
                [],
                invoke_ms=40.0,
                floor_ms=250.0,
                clients=("dynamodb",),
                ratio_to_floor=1.28,
            ),
            coldstart.ColdStart(
                "PageFunction", 80.0, 7, 0.4, [], [], invoke_ms=2.0, floor_ms=200.0, ratio_to_floor=0.41
            ),
        ],
    )
    spliced = report.splice_cold_figure(page, cold, "Measured alone.")
    lines = spliced.split("\n")
    cold_rows = [line for line in lines if line.startswith("| 2. Cold start |")]
    assert cold_rows == [
        "| 2. Cold start | import and first invocation of EnqueueFunction | 320 ms |"
        " import boto3 and 1 client: 250 ms (goal ≤ 1.3x) | 1.28x |",
        "| 2. Cold start | import and first invocation of PageFunction | 82 ms |"
        " import boto3 and 0 clients: 200 ms (goal ≤ 1.3x) | 0.41x |",
    ]
    # In the summary's place, between figures 1 and 3
    assert lines.index(cold_rows[0]) == 2 and lines[4].startswith("| 3. List cost |")
    # Every function within the goal: no "far from the minimum" note
    assert not any(line.startswith("- **Cold start**") for line in lines)
    assert "- **List cost**: kept" in lines and "- **Pipeline**: kept" in lines
    assert "old section text" not in spliced and "Measured alone." in spliced
    assert spliced.index("## 2. Cold start") < spliced.index("Measured alone.") < spliced.index("## 3. List cost")
    assert spliced.endswith("## 3. List cost\nlist text")


def test_the_floors_are_paired_with_boto3_as_the_handlers_are(monkeypatch: pytest.MonkeyPatch) -> None:
    timed: list[str] = []

    def fake_statement(
        statement: str, path: list[Path], env: Mapping[str, str], *, importtime: bool = False
    ) -> tuple[float, str]:
        timed.append(statement)
        if statement == "import boto3":
            return 0.100, ""
        if statement.endswith("import boto3"):
            return 0.090, ""
        return (0.150 if "event_handler" in statement else 0.120), ""

    monkeypatch.setattr(coldstart, "_run_statement", fake_statement)
    floors = coldstart.floors(runs=3, site=Path("."))
    assert [(f.functions, round(f.ratio_to_boto3, 6)) for f in floors] == [
        ("every function but the page", 1.2),
        ("the API functions", 1.5),
        (coldstart.BOTO3_PAUSED, 0.9),
    ]
    # The API functions' floor is the others' plus the event handler, its packages deferred as the
    # API handlers defer them: the only service code imported is that deferral.
    deferral = "from common.adapters.deferred_imports import defer_powertools_packages; defer_powertools_packages(); "
    assert floors[1].statement.replace(deferral, "").startswith(floors[0].statement + "; ")
    assert deferral in floors[1].statement and deferral not in floors[0].statement
    assert not any("common" in statement.replace(deferral, "") or "app" in statement.split() for statement in timed)
    # Collection is paused in each, as a handler pauses it, and the functions' floors load botocore, not boto3
    assert all(floor.statement.startswith("import gc; gc.disable(); ") for floor in floors)
    assert "boto3" not in floors[0].statement.replace("botocore", "")


def test_the_copy_from_source_holds_the_layer_and_functions_without_bytecode(tmp_path: Path) -> None:
    installed = tmp_path / "installed"
    (installed / "pkg" / "__pycache__").mkdir(parents=True)
    (installed / "pkg" / "__init__.py").write_text("X = 1\n")
    (installed / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0")
    (installed / "single.py").write_text("Y = 2\n")
    site = tmp_path / "site"
    site.mkdir()
    (site / "pkg").symlink_to(installed / "pkg")
    (site / "single.py").symlink_to(installed / "single.py")

    layer, functions = coldstart.source_copy(site, tmp_path / "copy")

    copied = {p.relative_to(layer).as_posix() for p in layer.rglob("*") if p.is_file()}
    assert {"pkg/__init__.py", "single.py", "common/__init__.py", "common/models/job.py"} <= copied
    everything = [*layer.rglob("*"), *functions.rglob("*")]
    assert not [p for p in everything if p.suffix == ".pyc" or p.name == "__pycache__"]
    assert not [p for p in everything if p.is_symlink()], "files, not links back to the bytecode's folders"
    assert (functions / "send_worker" / "app.py").is_file()
    assert (functions / "page" / "web" / "index.html").is_file()


def test_an_import_from_source_writes_no_bytecode_and_is_paired_with_boto3_from_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, list[Path], str | None]] = []

    def fake_run(
        module: str, path: list[Path], env: Mapping[str, str], *, importtime: bool = False
    ) -> tuple[float, str]:
        seen.append((module, path, env.get("PYTHONDONTWRITEBYTECODE")))
        return (0.300 if module == "boto3" else 0.600), ""

    monkeypatch.setattr(coldstart, "_run", fake_run)
    layer, functions = Path("/layer"), Path("/functions")
    boto3_ms, found = coldstart.from_source(
        runs=2, layer=layer, functions_dir=functions, environments={}, functions=["SweeperFunction"]
    )
    assert round(boto3_ms) == 300
    assert [(f.function, round(f.median_ms), round(f.ratio_to_boto3, 6)) for f in found] == [
        ("SweeperFunction", 600, 2.0)
    ]
    one_run = [("boto3", [layer], "1"), ("app", [functions / "sweeper", layer], "1")]
    assert seen == one_run * 2


def test_figure_2_shows_the_floors_and_the_imports_from_source() -> None:
    cold = coldstart.ColdStarts(
        boto3_ms=200.0,
        runs=5,
        functions=[
            coldstart.ColdStart(
                "EnqueueFunction",
                340.0,
                5,
                1.7,
                [],
                [],
                invoke_ms=60.0,
                floor_ms=250.0,
                ratio_to_floor=1.6,
                calls=3,
                calls_ms=12.5,
                ratio_without_calls=1.5,
            )
        ],
        floors=[coldstart.Floor("the API functions", "import boto3; import x", 330.0, 1.65)],
        from_source=[coldstart.FromSource("EnqueueFunction", 900.0, 1.8)],
        boto3_from_source_ms=500.0,
    )
    section = coldstart.section(cold)
    assert "| EnqueueFunction | 340 ms | 1.70x | — | 900 ms (1.80x) |" in section
    assert "| the API functions | `import boto3; import x` | 330 ms |" in section
    assert "`import boto3` from the same layer (500 ms)" in section
    (note,) = coldstart.notes(cold)
    assert "the API functions: 1.65x" in note
    assert "| EnqueueFunction | 340 ms | 60 ms | 3 (12 ms) | 250 ms | none | **1.60x** | — | 1.50x |" in section
    # What stops it: here not its calls (1.50x without them), but what it builds.
    assert (
        "EnqueueFunction 1.60x (1.50x without its 3 AWS calls, 12 ms): 340 ms of import (1.70x the floor's"
        " `import boto3`) and 48 ms of first invocation besides its calls, against 250 ms for `import boto3`"
        " and 0 clients" in note
    )
    assert "**not met**" in section


def test_the_functions_runtime_is_found_as_the_template_names_it() -> None:
    # The template's Runtime (python3.13) is what Lambda runs; `sam build` needs it here too.
    runtime = load_template()["Globals"]["Function"]["Runtime"]
    python = coldstart.runtime_python()
    assert python is not None, f"{runtime} is not on this machine"
    assert Path(python).is_file()
    assert coldstart.python_version(python).startswith(runtime.removeprefix("python") + ".")


def test_the_runtime_site_holds_the_layers_packages_for_that_python(tmp_path: Path) -> None:
    python = coldstart.runtime_python()
    assert python is not None
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("annotated-types\n", encoding="utf-8")
    site = coldstart.runtime_site(python, tmp_path / "site", requirements)
    version = coldstart.python_version(python).split(".")
    tag = f"cpython-{version[0]}{version[1]}"
    assert (site / "annotated_types" / "__init__.py").is_file()
    # with the bytecode of that interpreter, as the layer ships it
    assert any(tag in pyc.name for pyc in (site / "annotated_types" / "__pycache__").iterdir())
    assert not (site / "bin").exists()


def test_the_page_names_the_python_the_imports_ran_under() -> None:
    ran = coldstart.ColdStarts(boto3_ms=100.0, runs=1, functions=[], python="3.13.0", runtime="python3.13")
    assert "Python 3.13.0, the functions' runtime (python3.13)" in coldstart.section(ran)
    fallback = coldstart.ColdStarts(boto3_ms=100.0, runs=1, functions=[], python="3.11.7")
    assert "Python 3.11.7, this machine's: Lambda's was not found here." in coldstart.section(fallback)


def test_a_ratio_is_the_median_of_the_runs_own_ratios_with_their_middle_half() -> None:
    # One busy moment slows a pair's two runs alike: the times' medians would
    # drift, each pair's ratio barely moves
    baseline = [0.100, 0.100, 0.200, 0.100, 0.100]
    seconds = [0.140, 0.150, 0.290, 0.145, 0.160]
    found = coldstart.paired_ratios(seconds, baseline)
    assert round(found.median, 6) == 1.45
    assert [round(q, 6) for q in found.middle_half] == [1.45, 1.5]
    # One run: its own ratio; runs without their baseline are refused
    assert coldstart.paired_ratios([0.25], [0.125]) == (2.0, (2.0, 2.0))
    with pytest.raises(ValueError, match="one baseline run per run"):
        coldstart.paired_ratios([0.3, 0.2], [0.2])


def test_the_figure_shows_each_functions_middle_half_of_ratios() -> None:
    cold = coldstart.ColdStarts(
        boto3_ms=200.0,
        runs=15,
        functions=[
            coldstart.ColdStart("EnqueueFunction", 280.0, 15, 1.4, [], [], middle_half=(1.31, 1.52)),
            coldstart.ColdStart("PageFunction", 80.0, 15, 0.4, [], []),
        ],
    )
    section = coldstart.section(cold)
    assert "| EnqueueFunction | 280 ms | 1.40x | 1.31x to 1.52x |" in section
    assert "| PageFunction | 80 ms | 0.40x | — |" in section
    assert "median of the 15 runs' own ratios" in section


def test_the_first_invocations_aws_calls_are_counted_and_timed_apart(tmp_path: Path) -> None:
    """A real run of the first-start script: a handler that makes two botocore calls (answered by
    botocore's Stubber, as no endpoint is reached) reports two calls, their time within the invocation's."""
    (tmp_path / "app.py").write_text(
        "import botocore.session\n"
        "from botocore.stub import Stubber\n"
        "clients = []\n"
        "def handler(event, context):\n"
        "    client = botocore.session.get_session().create_client('sqs', region_name='us-east-1')\n"
        "    clients.append(client)\n"
        "    with Stubber(client) as stub:\n"
        "        stub.add_response('list_queues', {'QueueUrls': []})\n"
        "        stub.add_response('list_queues', {'QueueUrls': []})\n"
        "        client.list_queues()\n"
        "        client.list_queues()\n"
        "    return {'statusCode': 200}\n",
        encoding="utf-8",
    )
    site = Path(botocore.__file__).resolve().parent.parent
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "PATH": "/usr/bin:/bin"}
    result: dict[str, Any] = {}
    first = coldstart._run_first("SweeperFunction", {}, [tmp_path, site], env, result)
    assert first.error == ""
    assert first.calls == 2
    assert first.operations == (("sqs ListQueues", 2),)
    assert 0 < first.calls_s < first.invoke_s
    assert first.services == ("sqs",)


def test_a_function_over_the_goal_by_its_calls_alone_is_said_to_be() -> None:
    cold = coldstart.ColdStart(
        "SweeperFunction",
        230.0,
        5,
        1.6,
        [],
        [],
        invoke_ms=170.0,
        floor_ms=230.0,
        clients=("dynamodb", "sqs"),
        ratio_to_floor=1.74,
        calls=65,
        calls_ms=126.0,
        operations=(("dynamodb Query", 64), ("dynamodb BatchGetItem", 1)),
        ratio_without_calls=1.19,
    )
    stops = coldstart.what_stops(cold)
    assert stops.startswith("SweeperFunction 1.74x, its first invocation's 65 AWS calls, 126 ms of CPU")
    assert "(dynamodb Query 64, dynamodb BatchGetItem 1:" in stops
    # 65 calls take 1.74 - 1.19 = 0.55 of the floor; the goal leaves 1.3 - 1.19 = 0.11: 13 of them
    assert coldstart.calls_within_goal(cold) == 13
    assert stops.endswith(
        "without them 1.19x; within 1.3x it could make at most 13 of them, at their measured CPU each"
    )
    # one call of 0.03 where the goal leaves 0.01: none
    one = coldstart.ColdStart(**{**cold.__dict__, "ratio_to_floor": 1.32, "ratio_without_calls": 1.29, "calls": 1})
    assert coldstart.calls_within_goal(one) == 0
    assert coldstart.what_stops(one).endswith("it could make none of them, at their measured CPU each")
    (note,) = coldstart.notes(coldstart.ColdStarts(boto3_ms=110.0, runs=5, functions=[cold]))
    assert "1 of 1 functions over it). What stops each: SweeperFunction 1.74x, its first" in note
    row = "| SweeperFunction | 230 ms | 170 ms | 65 (126 ms): dynamodb Query 64, dynamodb BatchGetItem 1 |"
    assert row in coldstart.section(coldstart.ColdStarts(boto3_ms=110.0, runs=5, functions=[cold]))


def test_calls_are_ranked_by_count_and_the_median_runs_are_kept() -> None:
    assert coldstart.by_count({"sqs SendMessage": 1, "dynamodb Query": 4, "dynamodb GetItem": 1}) == (
        ("dynamodb Query", 4),
        ("dynamodb GetItem", 1),
        ("sqs SendMessage", 1),
    )
    runs = [(("a", 9),), (("b", 5),), (("c", 1),)]
    assert coldstart._median_run([9, 5, 1], runs) == (("b", 5),)
    assert coldstart._median_run([], []) == ()
