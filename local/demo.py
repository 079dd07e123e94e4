"""``make demo``: the service at work, against a running local stack.

One email of each system type through ``EnqueueFunction`` (the Lambda Invoke
API, as Privas services call it), a small Bulk Send through the HTTP API (as
the Email Operations page calls it), then the log as a table until SES has
reported on every job (the local stack emulates SES's mailbox simulator: one
bulk recipient bounces, one complains), the delivery events and suppression
entries those two made, and where to read what SES sent. Last, one email
scheduled a minute ahead (``send_at``): ``scheduled`` until then, then sent.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config

from local.stack import Settings
from local.tokens import mint, template_rules

DOMAIN = "acme.com"
WAIT_SECONDS = 60
SCHEDULE_AHEAD_SECONDS = 60  # the scheduled email of step 6
SCHEDULE_WAIT_SECONDS = 90  # after its send_at: a scheduler run (every 30 s here) and the send
# Where a job rests once SES has reported on it (or it never reached SES).
FINAL = ("delivered", "bounced", "complained", "failed", "suppressed", "canceled")
# SES's mailbox simulator (emulated by the local stack): a hard bounce and a complaint.
BOUNCES = "bounce@simulator.amazonses.com"
COMPLAINS = "complaint@simulator.amazonses.com"

EMAILS = [
    {
        "type": "ai_followup",
        "to": "visitor@example.org",
        "subject": "Your conversation with Acme, summarised",
        "body_text": "Thanks for chatting with us. Here is what we talked about...",
    },
    {
        "type": "visitor_capture",
        "to": "sales@acme.com",
        "subject": "A visitor left their email: visitor@example.org",
        "body_text": "A visitor shared visitor@example.org during a conversation.",
    },
    {
        "type": "escalation",
        "to": "owner@acme.com",
        "subject": "A visitor rang the bell",
        "body_text": "Someone is waiting for a person in the chat.",
    },
    {
        "type": "invitation",
        "to": "new.colleague@example.org",
        "subject": "You are invited to collaborate on acme.com",
        "body_text": "Follow this link to join the acme.com workspace.",
    },
]


class DemoError(Exception):
    pass


def _http(method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - a local http URL
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - a local http URL
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _time(value: str | None) -> str:
    return value[11:19] if value else "-"


def _short(text: str, width: int = 34) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


COLUMNS = ("created", "type", "recipient", "subject", "status", "attempts", "sent at", "error")


def table(rows: list[dict[str, Any]]) -> str:
    cells = [
        [
            _time(r["created_at"]),
            r["type"],
            r["recipient"],
            _short(r["subject"]),
            r["status"],
            str(r["attempts"]),
            _time(r["sent_at"]),
            r["error"] or "",
        ]
        for r in rows
    ]
    widths = [max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(COLUMNS)]
    lines = ["  ".join(name.ljust(w) for name, w in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


PORTS_HINT = (
    "start it with `make run` in another terminal; a stack started otherwise on other ports needs the same"
    " EMAILOPS_API_PORT, EMAILOPS_LAMBDA_PORT and EMAILOPS_AWS_PORT here"
)


class Demo:
    def __init__(self, settings: Settings, source: str = "the default ports") -> None:
        self.settings = settings
        self.source = source
        self.token = mint([DOMAIN], secret=settings.secret, rules=template_rules(dict(settings.parameters)))

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return _http(method, f"{self.settings.api_url}{path}", self.token, body)

    def run(self) -> None:
        try:
            self.api("GET", f"/jobs?domain={DOMAIN}&limit=1")
        except urllib.error.URLError as exc:
            raise DemoError(
                f"no local stack answers at {self.settings.api_url} (from {self.source}; {exc.reason}): {PORTS_HINT}"
            ) from exc
        print(f"The local stack at {self.settings.api_url} (from {self.source}).\n")
        system_ids = self.enqueue()
        bulk_ids = self.bulk_send(system_ids[:1])
        rows = self.watch(set(system_ids + bulk_ids))
        self.show_events(rows)
        self.show_sent_mail(rows)
        self.schedule_one()

    def enqueue(self) -> list[str]:
        print(f"1. Privas services queue one email of each type (EnqueueFunction, {self.settings.lambda_url})")
        job_ids = self._invoke({"jobs": [{**email, "domain": DOMAIN} for email in EMAILS]})
        for email, job_id in zip(EMAILS, job_ids, strict=True):
            print(f"   {email['type']:<16} to {email['to']:<28} job {job_id}")
        return job_ids

    def bulk_send(self, selected: list[str]) -> list[str]:
        print(f"\n2. An admin sends a bulk email (POST {self.settings.api_url}/jobs/bulk)")
        bulk = {
            "domain": DOMAIN,
            "job_ids": selected,
            "extra_recipients": f"ann@example.org, bob@example.org\ncarol@example.org {BOUNCES} {COMPLAINS}",
            "subject": "Our opening hours change next week",
            "body": "From Monday we are open from 8 to 18.",
        }
        status, answer = self.api("POST", "/jobs/bulk", bulk)
        if status != 202:
            raise DemoError(f"POST /jobs/bulk answered {status}: {answer}")
        print(f"   202: {answer['queued']} jobs queued on the bulk queue, {answer['duplicates']} duplicates removed")
        job_ids: list[str] = answer["job_ids"]
        return job_ids

    def watch(self, ours: set[str]) -> list[dict[str, Any]]:
        print(f"\n3. The log (GET {self.settings.api_url}/jobs?domain={DOMAIN}), until SES has reported on every job")
        shown = ""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            status, page = self.api("GET", f"/jobs?domain={DOMAIN}&limit=100")
            if status != 200:
                raise DemoError(f"GET /jobs answered {status}: {page}")
            rows = [item for item in page["items"] if item["job_id"] in ours]
            current = table(rows)
            if current != shown:
                print(f"\n{current}")
                shown = current
            if len(rows) == len(ours) and all(r["status"] in FINAL for r in rows):
                delivered = sum(1 for r in rows if r["status"] == "delivered")
                print(f"\n   {delivered} of {len(rows)} delivered.")
                return rows
            if time.monotonic() > deadline:
                waiting = len(ours) - sum(1 for r in rows if r["status"] in FINAL)
                raise DemoError(
                    f"{waiting} job(s) without SES's report after {WAIT_SECONDS} s: is the stack's worker"
                    " running? (Retries wait BackoffBaseSeconds, doubling; EMAILOPS_SES_FAULTS makes them happen;"
                    " EMAILOPS_SES_EVENTS=off leaves jobs sent.)"
                )
            time.sleep(1)

    def show_events(self, rows: list[dict[str, Any]]) -> None:
        print("\n4. SES's events (GET /jobs/{job_id}: events), for the bounce and the complaint")
        expected = {BOUNCES: "bounced", COMPLAINS: "complained"}
        for row in rows:
            if row["recipient"] not in expected:
                continue
            deadline = time.monotonic() + 10  # the complaint follows the delivery
            _, detail = self.api("GET", f"/jobs/{row['job_id']}")
            while detail.get("status") != expected[row["recipient"]] and time.monotonic() < deadline:
                time.sleep(0.5)
                _, detail = self.api("GET", f"/jobs/{row['job_id']}")
            print(f"   {row['recipient']} is {detail['status']}:")
            for event in detail.get("events", []):
                print(f"     {_time(event['at'])} {event['type']:<10} {event['detail']}")
        status, page = self.api("GET", f"/suppressions?domain={DOMAIN}")
        if status == 200:
            print(f"\n   {DOMAIN}'s suppression list (GET /suppressions?domain={DOMAIN}):")
            for item in page.get("items", []):
                print(f"     {item['email']:<36} {item['reason']:<11} job {item.get('job_id') or '-'}")
        else:
            print(
                f"\n   Both addresses are now on {DOMAIN}'s suppression list (items sup#{DOMAIN}#<address>"
                " in the jobs table)."
            )

    def show_sent_mail(self, rows: list[dict[str, Any]]) -> None:
        aws = self.settings.aws_endpoint
        print(f"\n5. What SES accepted, in the embedded AWS ({aws}/moto-api/data.json, under ses.Message):")
        messages = sent_messages(aws)
        by_id = {m.get("id"): m for m in messages}
        for row in rows:
            _, detail = self.api("GET", f"/jobs/{row['job_id']}")
            message = by_id.get(detail.get("message_id"))
            if message is not None:
                to = ", ".join(message.get("destinations", {}).get("ToAddresses", []))
                print(f"   to {to:<28} {message.get('subject')}")
        print("\n   Everything SES accepted since the stack started: make sent")

    def schedule_one(self) -> None:
        """One escalation scheduled a minute ahead: scheduled, then queued at its time, then sent."""
        send_at = datetime.now(UTC) + timedelta(seconds=SCHEDULE_AHEAD_SECONDS)
        stamp = send_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"\n6. A Privas service schedules an escalation for {stamp}, a minute ahead (send_at)")
        email = {**EMAILS[2], "domain": DOMAIN, "subject": "A visitor booked a call for later", "send_at": stamp}
        [job_id] = self._invoke({"jobs": [email]})
        _, detail = self.api("GET", f"/jobs/{job_id}")
        print(f"   job {job_id} is {detail.get('status')} (send_at {_time(detail.get('send_at'))})")
        deadline = time.monotonic() + SCHEDULE_AHEAD_SECONDS + SCHEDULE_WAIT_SECONDS
        last = detail.get("status")
        while detail.get("status") not in (*FINAL, "sent"):
            if time.monotonic() > deadline:
                raise DemoError(f"the scheduled job is still {detail.get('status')}: is the stack's scheduler running?")
            time.sleep(1)
            _, detail = self.api("GET", f"/jobs/{job_id}")
            if detail.get("status") != last:
                last = detail.get("status")
                print(f"   {_time(_now())} {last}")
        print(f"   sent at {_time(detail.get('sent_at'))}, {detail.get('status')}: it arrived when it was due")

    def _invoke(self, payload: dict[str, Any]) -> list[str]:
        client = boto3.client(
            "lambda",
            endpoint_url=self.settings.lambda_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - the embedded AWS takes any key
            config=Config(retries={"total_max_attempts": 1}),
        )
        response = client.invoke(FunctionName="EnqueueFunction", Payload=json.dumps(payload).encode())
        result = json.loads(response["Payload"].read())
        if response.get("FunctionError") or "job_ids" not in result:
            raise DemoError(f"EnqueueFunction answered {result}")
        job_ids: list[str] = result["job_ids"]
        return job_ids


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sent_messages(aws_endpoint: str) -> list[dict[str, Any]]:
    """What the embedded SES accepted, oldest first: moto's own record
    (``/moto-api/data.json``, ``ses`` → ``Message``), which, unlike the
    ``/moto-api/`` page (its scripts come from a CDN), works offline."""
    with urllib.request.urlopen(f"{aws_endpoint}/moto-api/data.json", timeout=30) as raw:  # noqa: S310 - a local URL
        messages: list[dict[str, Any]] = json.loads(raw.read()).get("ses", {}).get("Message", [])
    return messages


def print_sent(settings: Settings, source: str = "the default ports") -> int:
    """``make sent``: one line per email the embedded SES accepted."""
    try:
        messages = sent_messages(settings.aws_endpoint)
    except urllib.error.URLError as exc:
        print(
            f"error: no embedded AWS answers at {settings.aws_endpoint} (from {source}; {exc.reason}): {PORTS_HINT}",
            file=sys.stderr,
        )
        return 1
    if not messages:
        print(f"The embedded SES at {settings.aws_endpoint} has accepted no email yet.")
        return 0
    rows = [
        (
            ", ".join(m.get("destinations", {}).get("ToAddresses", [])),
            str(m.get("source") or ""),
            str(m.get("subject") or ""),
            str(m.get("id") or ""),
        )
        for m in messages
    ]
    headers = ("to", "from", "subject", "SES message id")
    # The id in full: the page shows it for each email (SES message id).
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    widths[2] = min(widths[2], 48)
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        cells = [_short(cell, width) for cell, width in zip(row, widths, strict=True)]
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    count = f"{len(messages)} email{'s' if len(messages) != 1 else ''}"
    print(f"\n{count} accepted by the embedded SES at {settings.aws_endpoint}.")
    return 0


def main(settings: Settings, source: str = "the default ports") -> int:
    try:
        Demo(settings, source).run()
    except DemoError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    return 0
