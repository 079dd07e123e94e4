"""Every built handler, imported and run from the build output exactly as
Lambda would: its own folder, then the layer's ``python/``, then only what the
Lambda runtime provides (boto3), each call in a fresh interpreter, against an
embedded AWS (moto server) holding the template's resources.

The handlers run from the host-architecture build (.aws-sam/build-host); the
first tests prove it holds the same code and dependency versions as the build
`sam deploy` ships (.aws-sam/build), whose compiled code cannot load here.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
import requests
import yaml
from packaging.requirements import Requirement

from local import roles
from local.build import host_architecture, host_runtime, host_template
from local.events import http_event, scheduled_event, sqs_event
from local.http_api import routes
from local.jobs_table import JobsTable
from local.pollers import RECEIVE_LIMIT, queue_sources
from local.template import ROOT, create_stack
from tests.build.conftest import assert_same_files, distributions, layers
from tests.e2e.stack_process import free_port, wait_until
from tests.helpers import RECORDER

pytestmark = pytest.mark.build

HARNESS = Path(__file__).with_name("lambda_harness.py")
# The permission check the harness installs (standard library only; not part of any artifact)
IAM_MODULE = ROOT / "local" / "iam.py"
DOMAIN = "acme.com"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}


# --------------------------------------------------- host build = deployed build
def test_the_host_template_differs_only_in_runtime_and_architecture(template, host_template_file):
    written = yaml.safe_load(host_template_file.read_text())
    assert written == host_template(template, runtime=host_runtime(), architecture=host_architecture())
    # and host_template changes nothing else
    undone = host_template(
        written,
        runtime=template["Globals"]["Function"]["Runtime"],
        architecture=template["Globals"]["Function"]["Architectures"][0],
    )
    assert undone == template


def test_the_host_build_holds_the_deployed_code_and_dependency_versions(template, deploy_build, host_build):
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert_same_files(host_build / logical, deploy_build / logical)
    for logical in layers(template):
        assert_same_files(host_build / logical / "python" / "common", deploy_build / logical / "python" / "common")
        deployed = distributions(deploy_build / logical / "python")
        tested = distributions(host_build / logical / "python")
        # Same versions of everything both have; markers for another Python may add or drop a backport
        common = set(deployed) & set(tested)
        assert {n: deployed[n] for n in common} == {n: tested[n] for n in common}
        assert len(common) >= len(deployed) - 2, sorted(set(deployed) ^ set(tested))


# ------------------------------------------------------- running the handlers
def _lambda_runtime_folder(target: Path) -> Path:
    """boto3 and what it needs, and nothing else: what Lambda's runtime provides."""
    target.mkdir()
    todo, seen = ["boto3"], set()
    while todo:
        dist = importlib.metadata.distribution(todo.pop())
        name = dist.metadata["Name"].lower()
        if name in seen:
            continue
        seen.add(name)
        for spec in dist.requires or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
        for file in dist.files or []:
            top = file.parts[0]
            if top.endswith((".dist-info", ".data")) or top in ("..", "bin"):
                continue
            link = target / top
            if not link.exists():
                link.symlink_to(Path(dist.locate_file(top)))
    return target


@pytest.fixture(scope="module")
def embedded_aws(tmp_path_factory):
    """A moto server of its own (another process), holding the template's resources."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - the venv's moto server
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(f"{endpoint}/moto-api/data.json", timeout=1).ok
        except requests.ConnectionError:
            return False

    try:
        wait_until(up, 30, message="the moto server")
        with pytest.MonkeyPatch.context() as patch:
            for key, value in {**AWS_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
                patch.setenv(key, value)
            stack = create_stack(boto3.Session(region_name="us-east-1"))
        yield endpoint, stack
    finally:
        process.terminate()
        process.wait(10)
        log.close()


class BuiltFunctions:
    """Invokes built handlers in fresh interpreters and remembers which ran."""

    def __init__(self, host_build: Path, runtime_folder: Path, endpoint: str, stack, tmp: Path) -> None:
        self.build = host_build
        self.runtime_folder = runtime_folder
        self.endpoint = endpoint
        self.stack = stack
        self.tmp = tmp
        self.invoked: set[str] = set()
        self.layer_folders = [host_build / logical / "python" for logical in layers(stack.template)]
        # Each handler's calls are checked against its role in template.yaml, as in the local stack
        self.permissions = roles.permissions(stack)

    def invoke(self, logical: str, event):
        props = self.stack.resources[logical]["Properties"]
        folder = self.build / logical
        paths = [str(folder), *map(str, self.layer_folders), str(self.runtime_folder)]
        env = {
            **self.stack.function_environment(logical),
            **AWS_ENV,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_LAMBDA_FUNCTION_NAME": logical,
            "POWERTOOLS_TRACE_DISABLED": "1",  # no X-Ray daemon here
        }
        out = self.tmp / f"{logical}-{uuid.uuid4().hex}.json"
        request = self.tmp / f"{out.stem}-request.json"
        checked = self.tmp / f"{out.stem}-calls.jsonl"
        iam_check = {
            "module": str(IAM_MODULE),
            "roles": [role.to_json() for role in self.permissions.roles.values()],
            "facts": self.permissions.facts.to_json(),
            "template": RECORDER.template,
            "record": str(checked),
        }
        request.write_text(
            json.dumps(
                {
                    "paths": paths,
                    "handler": props["Handler"],
                    "event": event,
                    "env": env,
                    "function_name": logical,
                    "out": str(out),
                    "iam": iam_check,
                }
            )
        )
        clean_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.tmp)}
        completed = subprocess.run(  # noqa: S603 - the harness, with this interpreter
            [sys.executable, "-I", "-S", str(HARNESS), str(request)],
            cwd=folder,
            env=clean_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        # A denial the handler answered for (a 500, say) fails the test too (tests/conftest.py)
        RECORDER.merge(checked)
        assert completed.returncode == 0, f"{logical} failed:\n{completed.stderr[-4000:]}"
        answer = json.loads(out.read_text())
        self._check_imports(logical, answer["modules"], paths)
        self.invoked.add(logical)
        return answer["result"]

    def _check_imports(self, logical: str, modules: dict, paths: list[str]) -> None:
        """Everything imported came from the artifact, the runtime's boto3 or the standard library."""
        stdlib = os.path.dirname(os.__file__)
        allowed = (*paths, stdlib)
        strays = {
            name: file
            for name, file in modules.items()
            if file
            and file not in (str(HARNESS), str(IAM_MODULE))
            and not os.path.realpath(file).startswith(tuple(os.path.realpath(p) for p in allowed))
            and not file.startswith(allowed)
        }
        assert not strays, f"{logical} imported code from outside its artifact: {strays}"
        assert modules["common"].startswith(str(self.build)), modules["common"]
        assert modules["app"].startswith(str(self.build / logical)), modules["app"]


@pytest.fixture(scope="module")
def built(host_build, embedded_aws, tmp_path_factory):
    endpoint, stack = embedded_aws
    tmp = tmp_path_factory.mktemp("invocations")
    runtime_folder = _lambda_runtime_folder(tmp / "lambda-runtime")
    return BuiltFunctions(host_build, runtime_folder, endpoint, stack, tmp)


def _client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def _http(
    built: BuiltFunctions, method: str, target: str, body=None, *, form: str | None = None
) -> tuple[str, int, dict]:
    """Invoke the function behind a route with the event API Gateway would send
    (``form``: a form-encoded body instead of JSON, as mail clients send)."""
    path, _, query = target.partition("?")
    matched = [(route, route.match(method, path)) for route in routes(built.stack)]
    route, params = next((r, p) for r, p in matched if p is not None)
    event = http_event(
        method=method,
        raw_path=path,
        route_key=route.route_key,
        path_parameters=params or None,
        raw_query_string=query,
        headers=[
            ("content-type", "application/x-www-form-urlencoded" if form is not None else "application/json"),
            ("host", "api.example.com"),
        ],
        body=form.encode() if form is not None else json.dumps(body).encode() if body is not None else b"",
        claims={"domains": DOMAIN, "sub": "build-test", "iat": int(time.time())},
    )
    response = built.invoke(route.function, event)
    headers = {name.lower(): value for name, value in (response.get("headers") or {}).items()}
    # The page's files are text; everything else answers JSON
    text = response.get("body") or ""
    answer = text if headers.get("content-type", "").startswith("text/") or not text else json.loads(text)
    return route.route_key, response["statusCode"], answer


def _schedule_event(kind: str) -> dict:
    if kind == "ScheduleV2":
        return {}
    return scheduled_event(
        rule_arn="arn:aws:events:us-east-1:123456789012:rule/r", region="us-east-1", account="123456789012"
    )


def test_every_built_handler_runs_from_its_artifact(built):  # noqa: PLR0915 - one walk through every route
    stack = built.stack
    sqs = _client("sqs", built.endpoint)
    jobs = JobsTable(_client("dynamodb", built.endpoint), stack.names["JobsTable"])

    # EnqueueFunction, invoked directly by Privas services
    request = {"type": "escalation", "domain": DOMAIN, "to": "owner@acme.com", "subject": "Bell", "body_text": "Hi"}
    (job_id,) = built.invoke("EnqueueFunction", request)["job_ids"]

    # The queue consumer, with the SQS event Lambda builds from the queued message
    for source in queue_sources(stack):
        # One ReceiveMessage (at most 10, AWS's limit) is enough for the one message queued
        received = sqs.receive_message(
            QueueUrl=source.queue_url,
            MaxNumberOfMessages=min(source.batch_size, RECEIVE_LIMIT),
            MessageSystemAttributeNames=["All"],
        )
        if received.get("Messages"):
            event = sqs_event(received["Messages"], queue_arn=source.queue_arn, region="us-east-1")
            assert built.invoke(source.function, event) == {"batchItemFailures": []}
    assert jobs.get(job_id).status == "sent"

    # The HTTP API's functions, through each route of the template
    called = {}
    for method, target, body in [
        ("GET", f"/jobs?domain={DOMAIN}", None),
        ("GET", f"/jobs/{job_id}", None),
        ("POST", "/jobs/bulk", {"domain": DOMAIN, "job_ids": [job_id], "subject": "News", "body": "Hello"}),
        ("GET", "/", None),
        ("GET", "/static/app.js", None),
    ]:
        route_key, status, answer = _http(built, method, target, body)
        called[route_key] = (status, answer)
    bulk_id = called["POST /jobs/bulk"][1]["bulk_id"]
    route_key, status, answer = _http(built, "GET", f"/bulks/{bulk_id}", None)
    called[route_key] = (status, answer)
    assert status == 200 and answer["total"] == 1, answer
    # Cancel, retry and the suppression list, on the bulk's job
    (manual_id,) = called["POST /jobs/bulk"][1]["job_ids"]
    for method, target, body in [
        ("GET", f"/jobs/{manual_id}", None),  # its detail carries the unsubscribe URL
        ("POST", f"/jobs/{manual_id}/cancel", None),
        ("POST", f"/jobs/{manual_id}/retry", None),
        ("POST", f"/bulks/{bulk_id}/cancel", None),
        ("PUT", f"/suppressions/{DOMAIN}/someone@example.org", None),
        ("GET", f"/suppressions?domain={DOMAIN}", None),
        ("DELETE", f"/suppressions/{DOMAIN}/someone@example.org", None),
    ]:
        route_key, status, answer = _http(built, method, target, body)
        called[f"{route_key} ({target})" if route_key == "GET /jobs/{job_id}" else route_key] = (status, answer)
    assert called["POST /jobs/{job_id}/cancel"][0] == 200
    assert called["POST /jobs/{job_id}/cancel"][1]["status"] == "canceled"
    assert called["POST /jobs/{job_id}/retry"][0] == 202
    assert called["POST /bulks/{bulk_id}/cancel"] == (200, {"canceled": 0})
    assert called["PUT /suppressions/{domain}/{email}"][0] == 200
    assert [e["email"] for e in called["GET /suppressions"][1]["items"]] == ["someone@example.org"]
    assert called["DELETE /suppressions/{domain}/{email}"][0] == 204
    # A domain's bulk sends, its health and its audit trail
    for target in (f"/bulks?domain={DOMAIN}", f"/domains/{DOMAIN}/health", f"/audit?domain={DOMAIN}"):
        route_key, status, answer = _http(built, "GET", target, None)
        called[route_key] = (status, answer)
    assert [b["bulk_id"] for b in called["GET /bulks"][1]["items"]] == [bulk_id]
    assert called["GET /domains/{domain}/health"][1]["paused"] is False
    assert [e["action"] for e in called["GET /audit"][1]["items"]] == [
        "suppression_remove",
        "suppression_add",
        "job_retry",
        "job_cancel",
        "bulk_send",
    ]
    # One-click unsubscribe, without a JWT, from the URL the manual job's detail gives
    unsubscribe_url = called[f"GET /jobs/{{job_id}} (/jobs/{manual_id})"][1]["unsubscribe_url"]
    token_path = "/unsubscribe/" + unsubscribe_url.rsplit("/unsubscribe/", 1)[1]
    route_key, status, page = _http(built, "GET", token_path)
    called[route_key] = (status, page)
    assert status == 200 and "<form" in page
    route_key, status, _ = _http(built, "POST", token_path, form="List-Unsubscribe=One-Click")
    called[route_key] = (status, None)
    assert status == 200

    # SesEventsFunction, with the SQS event its queue would give it: an event for an unknown job is dropped
    envelope = (ROOT / "tests" / "events" / "ses_delivery.json").read_text(encoding="utf-8")
    [events_source] = [source for source in queue_sources(stack) if source.function == "SesEventsFunction"]
    message = {"MessageId": "m-1", "ReceiptHandle": "r-1", "Body": envelope, "Attributes": {}}
    event = sqs_event([message], queue_arn=events_source.queue_arn, region="us-east-1")
    assert built.invoke("SesEventsFunction", event) == {"batchItemFailures": []}
    assert called["GET /jobs"][0] == 200
    assert [item["job_id"] for item in called["GET /jobs"][1]["items"]] == [job_id]
    assert called["GET /jobs/{job_id}"][0] == 200
    assert called["GET /jobs/{job_id}"][1]["status"] == "sent"
    assert called["POST /jobs/bulk"][0] == 202
    assert called["POST /jobs/bulk"][1]["queued"] == 1
    # The page and its files, from the artifact (web/ copied in by sam build)
    assert called["GET /"][0] == 200
    assert "<title>Email Operations</title>" in called["GET /"][1]
    assert called["GET /static/{file}"][0] == 200
    assert "import" in called["GET /static/{file}"][1]
    called_routes = {key.split(" (")[0] for key in called}
    assert called_routes == {route.route_key for route in routes(stack)}, "every route of the template was called"

    # Scheduled functions, with the event their schedule sends
    for logical, resource in stack.functions().items():
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] in ("Schedule", "ScheduleV2"):
                built.invoke(logical, _schedule_event(event["Type"]))

    assert built.invoked == set(stack.functions()), "every function of the template ran from its artifact"
