"""The embedded SES publishes delivery events, as SES's mailbox simulator does.

moto's SES never publishes a configuration set's events. This WSGI middleware
of the embedded AWS watches SES v2 ``SendEmail`` calls; after each one SES
accepted (200, a ``MessageId``) with a configuration set, it builds the events
SES would publish for that recipient (contract, section 6) and puts them on
the embedded EventBridge's default bus in SES's envelope (``source``
``aws.ses``, ``detail-type`` "Email Delivered" ..., ``detail`` = SES's event
record with ``mail.tags``: the configuration set and the email's tags). From
there they take the same path as in AWS: the template's rule, its SQS target,
``SesEventsFunction``.

| recipient (``+label`` allowed)               | events                                        |
|----------------------------------------------|-----------------------------------------------|
| ``bounce@simulator.amazonses.com``           | a permanent bounce (5.1.1)                    |
| ``complaint@simulator.amazonses.com``        | a delivery, then a complaint                  |
| ``suppressionlist@simulator.amazonses.com``  | a permanent bounce, ``OnAccountSuppressionList`` |
| ``ooto@``, ``success@`` or any other address | a delivery                                    |

Events go out from one background thread, in order, a fraction of a second
after the send (well within the contract's 5 seconds). A send refused by
``EMAILOPS_SES_FAULTS`` never reaches this middleware (the fault injector
sits in front of it), so it publishes nothing, as SES would.
"""

from __future__ import annotations

import io
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from local.ses import SEND_EMAIL_PATH

log = logging.getLogger("local.ses_events")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

SIMULATOR = "simulator.amazonses.com"
DETAIL_TYPES = {
    "Delivery": "Email Delivered",
    "Bounce": "Email Bounced",
    "Complaint": "Email Complaint Received",
    "DeliveryDelay": "Email Delivery Delayed",
    "Reject": "Email Rejected",
}
FIRST_EVENT_SECONDS = 0.3  # after the send, as SES takes a moment
NEXT_EVENT_SECONDS = 0.3  # between a simulator address's events (a delivery, then a complaint)
_SUPPRESSION_DIAGNOSTIC = (
    "Amazon SES did not send the message to this address because it is on the suppression list for your account."
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def simulator_mailbox(address: str) -> str | None:
    """``bounce`` for ``Bounce+x@Simulator.AmazonSES.com``; ``None`` off the simulator."""
    local, _, domain = address.strip().lower().rpartition("@")
    if domain != SIMULATOR:
        return None
    return local.split("+", 1)[0]


@dataclass(frozen=True)
class AcceptedSend:
    """What SES knew of an email it accepted: what its events repeat."""

    message_id: str
    sender: str
    to: list[str]
    subject: str
    configuration_set: str
    tags: dict[str, str]
    at: datetime


def accepted_send(request: dict[str, Any], response: dict[str, Any], now: datetime) -> AcceptedSend | None:
    """The send of a ``SendEmail`` request SES answered with a ``MessageId``
    (``None`` without a configuration set: SES then publishes nothing)."""
    configuration_set = request.get("ConfigurationSetName")
    message_id = response.get("MessageId")
    if not configuration_set or not message_id:
        return None
    destination = request.get("Destination") or {}
    subject = (((request.get("Content") or {}).get("Simple") or {}).get("Subject") or {}).get("Data", "")
    return AcceptedSend(
        message_id=str(message_id),
        sender=str(request.get("FromEmailAddress", "")),
        to=[str(a) for a in destination.get("ToAddresses") or []],
        subject=str(subject),
        configuration_set=str(configuration_set),
        tags={str(t["Name"]): str(t["Value"]) for t in request.get("EmailTags") or [] if "Name" in t},
        at=now,
    )


def mail_object(send: AcceptedSend, *, region: str, account: str, identity: str) -> dict[str, Any]:
    """SES's ``mail`` object for that send (its shape in SES's event records)."""
    sender_domain = send.sender.rpartition("@")[2]
    headers = [
        {"name": "From", "value": send.sender},
        {"name": "To", "value": ", ".join(send.to)},
        {"name": "Subject", "value": send.subject},
        {"name": "MIME-Version", "value": "1.0"},
    ]
    tags = {
        "ses:configuration-set": [send.configuration_set],
        "ses:source-ip": ["127.0.0.1"],
        "ses:from-domain": [sender_domain],
        "ses:caller-identity": ["local"],
    } | {name: [value] for name, value in send.tags.items()}
    return {
        "timestamp": _iso(send.at),
        "source": send.sender,
        "sourceArn": f"arn:aws:ses:{region}:{account}:identity/{identity}",
        "sendingAccountId": account,
        "messageId": send.message_id,
        "destination": list(send.to),
        "headersTruncated": False,
        "headers": headers,
        "commonHeaders": {
            "from": [send.sender],
            "to": list(send.to),
            "messageId": send.message_id,
            "subject": send.subject,
        },
        "tags": tags,
    }


def simulated_records(send: AcceptedSend, mail: dict[str, Any]) -> list[dict[str, Any]]:
    """The event records SES's mailbox simulator publishes for that send, in order."""
    recipients = list(send.to)
    mailbox = simulator_mailbox(recipients[0]) if recipients else None
    step = timedelta(seconds=NEXT_EVENT_SECONDS)
    first = send.at + timedelta(seconds=FIRST_EVENT_SECONDS)

    def delivery(at: datetime) -> dict[str, Any]:
        return {
            "eventType": "Delivery",
            "mail": mail,
            "delivery": {
                "timestamp": _iso(at),
                "processingTimeMillis": int((at - send.at).total_seconds() * 1000),
                "recipients": recipients,
                "smtpResponse": "250 2.6.0 Message received",
                "reportingMTA": "a1-1.smtp-out.local.amazonses.com",
            },
        }

    def bounce(at: datetime, sub_type: str, diagnostic: str) -> dict[str, Any]:
        return {
            "eventType": "Bounce",
            "mail": mail,
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": sub_type,
                "bouncedRecipients": [
                    {"emailAddress": r, "action": "failed", "status": "5.1.1", "diagnosticCode": diagnostic}
                    for r in recipients
                ],
                "timestamp": _iso(at),
                "feedbackId": f"{uuid.uuid4().hex}-000000",
                "reportingMTA": "dsn; a1-1.smtp-out.local.amazonses.com",
            },
        }

    if mailbox == "bounce":
        return [bounce(first, "General", "smtp; 550 5.1.1 user unknown")]
    if mailbox == "suppressionlist":
        return [bounce(first, "OnAccountSuppressionList", _SUPPRESSION_DIAGNOSTIC)]
    if mailbox == "complaint":
        complaint = {
            "eventType": "Complaint",
            "mail": mail,
            "complaint": {
                "complainedRecipients": [{"emailAddress": r} for r in recipients],
                "timestamp": _iso(first + step),
                "feedbackId": f"{uuid.uuid4().hex}-000000",
                "userAgent": "Amazon SES Mailbox Simulator",
                "complaintFeedbackType": "abuse",
                "arrivalDate": _iso(first + step),
            },
        }
        return [delivery(first), complaint]
    return [delivery(first)]


def entry(record: dict[str, Any], *, region: str, account: str) -> dict[str, Any]:
    """A ``PutEvents`` entry carrying ``record`` as SES puts it on the default bus."""
    configuration_set = record["mail"]["tags"]["ses:configuration-set"][0]
    return {
        "Source": "aws.ses",
        "DetailType": DETAIL_TYPES[record["eventType"]],
        "Detail": json.dumps(record),
        "Resources": [f"arn:aws:ses:{region}:{account}:configuration-set/{configuration_set}"],
        "EventBusName": "default",
    }


class SesEventPublisher:
    """Puts simulated events on the embedded EventBridge, in order, from one thread."""

    def __init__(self, events_client: Callable[[], Any], *, region: str, account: str, identity: str) -> None:
        self._client_factory = events_client
        self._client: Any = None
        self.region = region
        self.account = account
        self.identity = identity
        self._queue: queue.Queue[tuple[float, dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ses-events", daemon=True)
        self._thread.start()

    def accepted(self, send: AcceptedSend) -> None:
        mail = mail_object(send, region=self.region, account=self.account, identity=self.identity)
        start = time.monotonic()
        for n, record in enumerate(simulated_records(send, mail)):
            due = start + FIRST_EVENT_SECONDS + n * NEXT_EVENT_SECONDS
            self._queue.put((due, entry(record, region=self.region, account=self.account)))

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            due, event = item
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                if self._client is None:
                    self._client = self._client_factory()
                answer = self._client.put_events(Entries=[event])
                if answer.get("FailedEntryCount"):
                    log.warning("the embedded EventBridge refused an SES event: %s", answer.get("Entries"))
            except Exception as exc:  # noqa: BLE001 - a lost local event must not stop the others
                log.warning("could not publish an SES event (%s)", type(exc).__name__)


class SesEventEmulator:
    """WSGI middleware of the embedded AWS: after each SES v2 ``SendEmail``
    that succeeded, the publisher emits the simulator's events."""

    def __init__(
        self, app: WsgiApp, publisher: SesEventPublisher, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._app = app
        self._publisher = publisher
        self._clock = clock or (lambda: datetime.now(UTC))

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not (environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == SEND_EMAIL_PATH):
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        seen: dict[str, str] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = status
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        body = b"".join(self._app(environ, capture))
        if seen.get("status", "").startswith("200"):
            try:
                send = accepted_send(json.loads(raw or b"{}"), json.loads(body or b"{}"), self._clock())
            except (ValueError, TypeError, KeyError, AttributeError):
                send = None
            if send is not None:
                self._publisher.accepted(send)
        return [body]
