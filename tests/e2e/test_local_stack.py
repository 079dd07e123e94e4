"""End to end: the service on one machine, driven only from outside.

Each test works in domains of its own, so tests never see each other's jobs.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
import warnings

import boto3
import jwt
import pytest
import requests
from jwt.warnings import InsecureKeyLengthWarning

from common.adapters.bodies import BodyStore
from common.models.clock import epoch_seconds, utc_now
from common.models.job import Bodies, Job, JobType, new_job_id
from local.jobs_table import JobsTable
from tests.e2e.stack_process import free_port, start_stack, stop_stack, wait_ready, wait_until

# The contract's dev secret is short; PyJWT would warn about every token made here.
warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

SECRET = "dev-secret"  # the contract's default EMAILOPS_DEV_JWT_SECRET
SEND_SECONDS = 60  # generous: CI machines can be busy
SENT_OR_LATER = ("sent", "delayed", "delivered", "bounced", "complained")


def new_domain() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}.com"


def token(*domains: str, **claims) -> str:
    """A token as a client outside the project mints it: the secret, a domains claim and exp."""
    return jwt.encode(
        {"domains": " ".join(domains), "exp": int(time.time()) + 3600, **claims}, SECRET, algorithm="HS256"
    )


def auth(*domains: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*domains)}"}


def email(domain: str, kind: str = "escalation", to: str | None = None, **extra) -> dict:
    return {
        "type": kind,
        "domain": domain,
        "to": to or f"owner@{domain}",
        "subject": f"{kind} for {domain}",
        "body_text": "Someone is waiting in the chat.",
        **extra,
    }


def enqueue(stack, payload) -> dict:
    response = stack.lambda_client().invoke(
        FunctionName="arn:aws:lambda:us-east-1:123456789012:function:EnqueueFunction",
        Payload=json.dumps(payload).encode(),
    )
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


def job(stack, job_id: str, domain: str) -> requests.Response:
    return requests.get(f"{stack.api}/jobs/{job_id}", headers=auth(domain), timeout=10)


def wait_sent(stack, job_id: str, domain: str) -> dict:
    def sent():
        response = job(stack, job_id, domain)
        assert response.status_code == 200, response.text
        detail = response.json()
        assert detail["status"] != "failed", detail
        # SES's events (emulated) move a sent job on within a second: sent or later.
        return detail if detail["status"] in SENT_OR_LATER else None

    return wait_until(sent, SEND_SECONDS, message=f"job {job_id} to be sent")


def ses_messages(stack) -> list[dict]:
    data = requests.get(f"{stack.aws}/moto-api/data.json", timeout=10).json()
    return data.get("ses", {}).get("Message", [])


# ------------------------------------------------------------------ sending
def test_an_enqueued_email_is_sent_and_visible_in_the_embedded_ses(local_stack):
    domain = new_domain()

    # Given a Privas service invokes EnqueueFunction through boto3's Lambda client
    result = enqueue(local_stack, email(domain, to=f"owner@{domain}", subject="A visitor rang the bell"))
    (job_id,) = result["job_ids"]

    # Then the job reaches "sent", on its first attempt
    detail = wait_sent(local_stack, job_id, domain)
    assert detail["attempts"] == 1
    assert detail["sent_at"] is not None
    assert detail["message_id"]
    assert [entry["outcome"] for entry in detail["attempt_log"]] == ["sent"]

    # And the embedded AWS shows what SES accepted
    (message,) = [m for m in ses_messages(local_stack) if m["id"] == detail["message_id"]]
    assert message["destinations"]["ToAddresses"] == [f"owner@{domain}"]
    assert message["subject"] == "A visitor rang the bell"


def test_a_large_body_goes_through_s3_and_is_sent_whole(local_stack):
    domain = new_domain()
    text = " ".join(f"{uuid.uuid4().hex} line {i}" for i in range(2_000))  # compresses to well over 4 KB
    html = f"<p>{text}</p>"
    (job_id,) = enqueue(local_stack, email(domain, body_text=text, body_html=html))["job_ids"]
    # Then it is sent, its detail shows both bodies, and SES got the HTML whole
    detail = wait_sent(local_stack, job_id, domain)
    assert (detail["body_text"], detail["body_html"]) == (text, html)
    (message,) = [m for m in ses_messages(local_stack) if m["id"] == detail["message_id"]]
    assert message["body"] == html
    s3 = boto3.client(
        "s3",
        endpoint_url=local_stack.aws,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].endswith("-bodiesbucket")]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{domain}/").get("Contents", [])]
    assert keys == [f"{domain}/{job_id}"]


def test_a_batch_of_every_system_type_is_sent_in_request_order(local_stack):
    domain = new_domain()
    kinds = ["ai_followup", "visitor_capture", "escalation", "invitation"]

    result = enqueue(local_stack, {"jobs": [email(domain, kind, to=f"{kind}@example.org") for kind in kinds]})

    assert len(result["job_ids"]) == len(kinds)
    details = [wait_sent(local_stack, job_id, domain) for job_id in result["job_ids"]]
    assert [d["type"] for d in details] == kinds
    assert [d["recipient"] for d in details] == [f"{kind}@example.org" for kind in kinds]


def test_the_same_idempotency_key_gives_the_same_job_and_one_email(local_stack):
    domain = new_domain()
    request = email(domain, idempotency_key="conv-123-bell")

    first = enqueue(local_stack, request)
    second = enqueue(local_stack, request)

    assert first["job_ids"] == second["job_ids"], (first, second)
    detail = wait_sent(local_stack, first["job_ids"][0], domain)
    time.sleep(1)
    sent = [m for m in ses_messages(local_stack) if m["destinations"]["ToAddresses"] == [detail["recipient"]]]
    assert [m["id"] for m in sent] == [detail["message_id"]], (detail, local_stack.output()[-3000:])


def test_an_invalid_request_is_a_validation_error_and_nothing_is_queued(local_stack):
    domain = new_domain()

    result = enqueue(local_stack, {"jobs": [email(domain), {**email(domain), "type": "nope"}]})

    assert result["error"]["code"] == "validation_error"
    listing = requests.get(f"{local_stack.api}/jobs", params={"domain": domain}, headers=auth(domain), timeout=10)
    assert listing.status_code == 200
    assert listing.json()["items"] == []


def test_a_bulk_send_is_queued_and_sent(local_stack):
    domain = new_domain()
    (selected,) = enqueue(local_stack, email(domain, to=f"visitor@{domain}"))["job_ids"]
    wait_sent(local_stack, selected, domain)

    # When an admin sends a bulk email to a selected row and extra addresses (one a duplicate)
    response = requests.post(
        f"{local_stack.api}/jobs/bulk",
        headers=auth(domain),
        json={
            "domain": domain,
            "job_ids": [selected],
            "extra_recipients": f"ann@example.org, bob@example.org\nVISITOR@{domain}; not-an-address",
            "subject": "Our opening hours change",
            "body": "From Monday we open at 8.",
        },
        timeout=30,
    )

    # Then it is accepted with one job per distinct valid recipient
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["queued"] == 3 == len(body["job_ids"])
    assert body["duplicates"] == 1
    assert [r["input"] for r in body["rejected"]] == ["not-an-address"]

    # And every one of them is sent, as a manual job
    details = [wait_sent(local_stack, job_id, domain) for job_id in body["job_ids"]]
    assert {d["type"] for d in details} == {"manual"}
    sent_to = {tuple(m["destinations"]["ToAddresses"]) for m in ses_messages(local_stack)}
    assert {(d["recipient"],) for d in details} <= sent_to


def test_a_poison_message_ends_in_the_dead_letter_queue_and_the_rest_is_sent(local_stack):
    sqs = boto3.client(
        "sqs",
        endpoint_url=local_stack.aws,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    queue = sqs.get_queue_url(QueueName="emailops-PriorityQueue")["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName="emailops-PriorityDeadLetterQueue")["QueueUrl"]
    poison = f"not a job message {uuid.uuid4().hex}"

    # When a message that can never be processed reaches the priority queue, beside a real job
    sqs.send_message(QueueUrl=queue, MessageBody=poison)
    domain = new_domain()
    (job_id,) = enqueue(local_stack, email(domain))["job_ids"]

    # Then the job is sent
    wait_sent(local_stack, job_id, domain)

    # And the poison message is parked in the dead-letter queue with its reason, not retried
    def parked():
        messages = sqs.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
        ).get("Messages", [])
        return next((m for m in messages if m["Body"] == poison), None)

    message = wait_until(parked, timeout=SEND_SECONDS, message="the poison message in the dead-letter queue")
    assert message["MessageAttributes"]["reason"]["StringValue"]


def test_the_log_lists_the_callers_jobs_newest_first(local_stack):
    domain = new_domain()
    ids = enqueue(local_stack, {"jobs": [email(domain, to=f"r{i}@example.org") for i in range(3)]})["job_ids"]

    response = requests.get(f"{local_stack.api}/jobs", params={"domain": domain}, headers=auth(domain), timeout=10)

    assert response.status_code == 200
    assert [item["job_id"] for item in response.json()["items"]] == sorted(ids, reverse=True)


def test_a_job_whose_message_was_lost_is_found_by_the_sweeper_and_sent(local_stack):
    # Given a job stored as EnqueueFunction stores it, whose queue message never left
    # (written straight into the embedded AWS's table), already due for the sweeper
    domain = new_domain()
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=local_stack.aws,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    (table,) = [name for name in dynamodb.list_tables()["TableNames"] if name.endswith("-JobsTable")]
    job_id, created_at = new_job_id()
    lost = Job(
        job_id=job_id,
        created_at=created_at,
        domain=domain,
        type=JobType.INVITATION,
        recipient=f"new@{domain}",
        subject="You are invited",
        body=job_id,
    )
    jobs = JobsTable(dynamodb, table)
    body = BodyStore(dynamodb, table, None, None).item(
        job_id, domain, Bodies(text="Join us."), expires_at=jobs.expires_at(created_at)
    )
    jobs.put_new([lost], due_at=epoch_seconds(utc_now()) - 1, bodies=[body])

    # Then the sweeper (on its local schedule) queues it again and the worker sends it
    detail = wait_sent(local_stack, job_id, domain)
    assert detail["attempts"] == 1


# ------------------------------------------------------------ access rules
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer not-a-jwt",
        "Bearer " + jwt.encode({"domains": "acme.com"}, "another-secret", algorithm="HS256"),
        "Bearer " + jwt.encode({"domains": "acme.com"}, SECRET, algorithm="HS512"),
        "Bearer " + jwt.encode({"domains": "acme.com"}, None, algorithm="none"),
        "Bearer " + jwt.encode({"domains": "acme.com", "exp": int(time.time()) - 60}, SECRET, algorithm="HS256"),
    ],
    ids=["none", "empty", "basic", "no-token", "malformed", "bad-signature", "hs512", "alg-none", "expired"],
)
def test_anything_but_a_valid_token_is_401(local_stack, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in [("GET", "/jobs"), ("GET", "/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV"), ("POST", "/jobs/bulk")]:
        response = requests.request(method, f"{local_stack.api}{path}", headers=headers, json={}, timeout=10)
        assert response.status_code == 401, (method, path, response.text)


def test_a_token_that_expires_later_is_accepted(local_stack):
    domain = new_domain()
    headers = {"Authorization": f"Bearer {token(domain, exp=int(time.time()) + 600)}"}
    response = requests.get(f"{local_stack.api}/jobs", params={"domain": domain}, headers=headers, timeout=10)
    assert response.status_code == 200


def test_another_domain_is_403(local_stack):
    mine, other = new_domain(), new_domain()

    listing = requests.get(f"{local_stack.api}/jobs", params={"domain": other}, headers=auth(mine), timeout=10)
    bulk = requests.post(
        f"{local_stack.api}/jobs/bulk",
        headers=auth(mine),
        json={"domain": other, "extra_recipients": "a@example.org", "subject": "Hi", "body": "Hello"},
        timeout=10,
    )

    for response in (listing, bulk):
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"]


def test_another_tenants_job_is_404_and_so_is_an_unknown_route(local_stack):
    mine, theirs = new_domain(), new_domain()
    (their_job,) = enqueue(local_stack, email(theirs))["job_ids"]

    response = job(local_stack, their_job, mine)

    assert response.status_code == 404
    assert response.json()["error"]["code"]
    assert job(local_stack, their_job, theirs).status_code == 200
    assert requests.get(f"{local_stack.api}/nothing-here", headers=auth(mine), timeout=10).status_code == 404


# ------------------------------------------------------- the Invoke API
def test_invoke_api_answers_like_lambda(local_stack):
    client = local_stack.lambda_client()

    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")

    # An Event invocation is accepted at once and still runs
    domain = new_domain()
    accepted = client.invoke(FunctionName="EnqueueFunction", InvocationType="Event", Payload=json.dumps(email(domain)))
    assert accepted["StatusCode"] == 202

    def listed():
        response = requests.get(f"{local_stack.api}/jobs", params={"domain": domain}, headers=auth(domain), timeout=10)
        return response.json()["items"]

    assert wait_until(listed, SEND_SECONDS, message="the Event invocation's job")

    # A function that raises is reported as Lambda reports it
    failed = client.invoke(FunctionName="SendWorkerFunction", Payload=json.dumps({"Records": "not-a-list"}))
    assert failed["FunctionError"] == "Unhandled"
    assert {"errorMessage", "errorType"} <= set(json.loads(failed["Payload"].read()))


# -------------------------------------------------------------- the stack
def run_in_shell(line: str) -> str:
    """A command line exactly as a person pastes it into a shell."""
    completed = subprocess.run(  # noqa: S603 - the stack's own printed command
        ["/bin/bash", "-c", line], capture_output=True, text=True, timeout=30, check=True
    )
    return completed.stdout


def test_the_printed_curl_lines_show_a_job_reach_sent(local_stack):
    # Given what the stack prints on start: its URLs, a token and two curl lines
    output = local_stack.output()
    assert local_stack.api in output
    assert local_stack.lambda_endpoint in output
    assert f"{local_stack.aws}/moto-api/" in output
    enqueue_line, list_line = [line.strip() for line in output.splitlines() if line.strip().startswith("curl ")]

    # When a newcomer runs them as printed
    (job_id,) = json.loads(run_in_shell(enqueue_line))["job_ids"]

    def listed_as_sent():
        items = {item["job_id"]: item for item in json.loads(run_in_shell(list_line))["items"]}
        return job_id in items and items[job_id]["status"] in SENT_OR_LATER

    # Then the second one shows the job sent
    assert wait_until(listed_as_sent, SEND_SECONDS, message="the printed curl line to show the job sent")


def test_ctrl_c_stops_everything_cleanly(tmp_path):
    process, env = start_stack(tmp_path / "stack.log")
    try:
        wait_ready(process, f"http://127.0.0.1:{env['EMAILOPS_API_PORT']}", tmp_path / "stack.log")
    finally:
        returncode = stop_stack(process)  # what Ctrl-C sends

    assert returncode == 0

    for variable in ("EMAILOPS_API_PORT", "EMAILOPS_LAMBDA_PORT", "EMAILOPS_AWS_PORT"):
        # Every port is free again for the next `make run`, whose servers set
        # SO_REUSEADDR as this socket does: a connection closed a moment ago
        # may still be in TIME_WAIT, which only a listener without it minds.
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", int(env[variable])))
            sock.listen()


def test_a_port_in_use_gets_a_clear_message(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process, _ = start_stack(
            tmp_path / "stack.log", EMAILOPS_API_PORT=str(port), EMAILOPS_AWS_PORT=str(free_port())
        )
        try:
            returncode = process.wait(60)
        finally:
            stop_stack(process)

    output = (tmp_path / "stack.log").read_text()
    assert returncode != 0
    assert f"port {port} is already in use" in output
    assert "EMAILOPS_API_PORT" in output
    assert "Traceback" not in output


# Last in this module: its bulk send goes on draining in the background.
def test_a_bulk_send_of_1000_is_accepted_and_does_not_hold_back_an_escalation(local_stack):
    domain = new_domain()
    recipients = ", ".join(f"reader{i}@example.org" for i in range(1000))

    # When an admin sends a bulk email at the contract's limit of 1,000 recipients
    response = requests.post(
        f"{local_stack.api}/jobs/bulk",
        headers=auth(domain),
        json={"domain": domain, "extra_recipients": recipients, "subject": "News", "body": "Hello."},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    bulk_ids = response.json()["job_ids"]
    assert len(bulk_ids) == 1000

    # And, while it drains, a visitor rings the bell
    (escalation,) = enqueue(local_stack, email(domain))["job_ids"]
    wait_sent(local_stack, escalation, domain)

    # Then the escalation was sent before the bulk send had drained: it did not wait behind it
    waiting = requests.get(
        f"{local_stack.api}/jobs",
        params={"domain": domain, "type": "manual", "status": "queued", "limit": 1},
        headers=auth(domain),
        timeout=10,
    )
    assert waiting.status_code == 200, waiting.text
    assert waiting.json()["items"], "the whole bulk send was sent before the escalation"
