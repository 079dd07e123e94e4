"""What ``POST /jobs/bulk`` takes and answers. Only the bulk send's function
builds them (docs/adr/0033-cold-starts.md).

Limits live in the types: a body or a recipient list over its limit raises a
pydantic error of its own type (``body_too_large``, ``too_many_recipients``),
which ``common.adapters.api`` answers with 413.
"""

from functools import cache
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from common.models.api import (
    BODY_TOO_LARGE,
    MAX_BULK_JOB_IDS,
    MAX_EXTRA_RECIPIENTS_CHARS,
    MAX_JOB_ID_CHARS,
    TOO_MANY_RECIPIENTS,
)
from common.models.api_settings import ApiSettings
from common.models.job import MAX_BODIES_BYTES, MAX_BODY_CHARS, Domain, EmailAddress, SendAt, Subject
from common.models.settings import BodiesSettings, PauseSettings, QueueingSettings, load, registered


def _body_fits(value: str) -> str:
    if len(value) > MAX_BODY_CHARS or len(value.encode()) > MAX_BODIES_BYTES:
        raise PydanticCustomError(
            BODY_TOO_LARGE,
            "must be at most {chars} characters and {size} bytes (UTF-8)",
            {"chars": MAX_BODY_CHARS, "size": MAX_BODIES_BYTES},
        )
    return value


def _few_job_ids(value: list[str] | None) -> list[str] | None:
    if value is not None and len(value) > MAX_BULK_JOB_IDS:
        raise PydanticCustomError(
            TOO_MANY_RECIPIENTS, "at most {limit} rows may be selected", {"limit": MAX_BULK_JOB_IDS}
        )
    return value


def _short_address_list(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_EXTRA_RECIPIENTS_CHARS:
        raise PydanticCustomError(
            TOO_MANY_RECIPIENTS, "must be at most {limit} characters", {"limit": MAX_EXTRA_RECIPIENTS_CHARS}
        )
    return value


BulkBody = Annotated[str, StringConstraints(min_length=1), AfterValidator(_body_fits)]
SelectedJobIds = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_JOB_ID_CHARS)]] | None,
    AfterValidator(_few_job_ids),
]
ExtraRecipients = Annotated[str | None, AfterValidator(_short_address_list)]


class BulkSendRequest(BaseModel):
    model_config = ConfigDict(
        defer_build=True,
        extra="forbid",
        # In the OpenAPI document: schemathesis sends it, so one request of its run is queued.
        json_schema_extra={
            "examples": [
                {
                    "domain": "acme.com",
                    "extra_recipients": "a@example.org, b@example.net",
                    "subject": "Our opening hours over the holidays",
                    "body": "We are open every day from 9 to 17.",
                }
            ]
        },
    )

    domain: Domain = Field(description="one of your domains; every recipient is written to it")
    job_ids: SelectedJobIds = Field(default=None, description="selected rows: their recipients receive the email")
    extra_recipients: ExtraRecipients = Field(
        default=None, description="more addresses, separated by commas, semicolons, spaces or line breaks"
    )
    subject: Subject
    body: BulkBody = Field(description=f"plain text, 1-{MAX_BODY_CHARS} characters")
    send_at: SendAt | None = None


class TestSendRequest(BaseModel):
    """``POST /jobs/test``: one copy of a bulk send's email to one address, first."""

    __test__: ClassVar[bool] = False  # a model, not a test class

    model_config = ConfigDict(
        defer_build=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "domain": "acme.com",
                    "to": "me@example.org",
                    "subject": "Our opening hours over the holidays",
                    "body": "We are open every day from 9 to 17.",
                }
            ]
        },
    )

    domain: Domain = Field(description="one of your domains")
    to: EmailAddress = Field(description="the one address the test email goes to")
    subject: Subject
    body: BulkBody = Field(description=f"plain text, 1-{MAX_BODY_CHARS} characters")


class TestSendResponse(BaseModel):
    __test__: ClassVar[bool] = False

    model_config = ConfigDict(defer_build=True)

    job_id: str = Field(description="the test email's job: manual, bulk_id null, on the priority queue")


# What a 202 lists of the inputs it refused. The answer is kept for replays in
# one DynamoDB item (400 KB): 1,000 job ids and 100 entries of 100 characters
# each fit it even when every character takes 12 bytes of JSON
# (docs/adr/0021-bulk-send-202-bounded.md).
MAX_REJECTED_LISTED = 100
MAX_REJECTED_CHARS = 100
_CUT = "\N{HORIZONTAL ELLIPSIS}"


def _cut_text(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_REJECTED_CHARS:
        return value[: MAX_REJECTED_CHARS - len(_CUT)] + _CUT
    return value


def _first_listed(value: Any) -> Any:
    return value[:MAX_REJECTED_LISTED] if isinstance(value, list) else value


ListedText = Annotated[str, BeforeValidator(_cut_text), StringConstraints(max_length=MAX_REJECTED_CHARS)]


class RejectedInput(BaseModel):
    model_config = ConfigDict(defer_build=True)

    input: ListedText = Field(
        description=f"a selected job id or a typed-in address, as sent; one longer than "
        f"{MAX_REJECTED_CHARS} characters is cut to its first {MAX_REJECTED_CHARS - 1} and an ellipsis"
    )
    reason: ListedText = Field(description=f"why, cut like input to {MAX_REJECTED_CHARS} characters")


class BulkSendResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)

    bulk_id: str
    queued: int = Field(description="jobs created and queued: one per recipient")
    job_ids: list[str]
    rejected: Annotated[list[RejectedInput], BeforeValidator(_first_listed), Field(max_length=MAX_REJECTED_LISTED)] = (
        Field(description=f"the first {MAX_REJECTED_LISTED} inputs refused, in the order sent")
    )
    rejected_total: int = Field(description="every input refused, listed in rejected or not")
    duplicates: int = Field(description="recipients dropped because they were already in the list")

    @model_validator(mode="before")
    @classmethod
    def _count_of_older_answers(cls, data: Any) -> Any:
        """Answers kept for replay before ``rejected_total`` existed listed every refusal."""
        if isinstance(data, dict) and "rejected_total" not in data and isinstance(data.get("rejected"), list):
            return data | {"rejected_total": len(data["rejected"])}
        return data


# ------------------------------------------------------------------ settings
class BulkQueueSettings(QueueingSettings, ApiSettings, BodiesSettings, PauseSettings):
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)


@registered
@cache
def get_bulk_queue_settings() -> BulkQueueSettings:
    return load(BulkQueueSettings)
