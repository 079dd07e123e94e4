"""What ``GET /domains/{domain}/health`` answers (docs/api.md): a domain's
rates over its jobs sent in the last 24 hours beside the thresholds of
``409 domain_paused``. Only the log's function builds it."""

from pydantic import BaseModel, ConfigDict, Field


class DomainHealth(BaseModel):
    model_config = ConfigDict(defer_build=True)

    domain: str
    window_hours: int = Field(description="the window: the domain's jobs sent (sent_at) in the last this many hours")
    sent: int = Field(description="the domain's jobs SES accepted in the window")
    bounced: int = Field(description="of those, the jobs that bounced permanently")
    complained: int = Field(description="of those, the jobs whose recipients marked them as spam")
    bounce_rate: float = Field(description="bounced / sent, a fraction; 0 when nothing was sent")
    complaint_rate: float = Field(description="complained / sent, a fraction; 0 when nothing was sent")
    bounce_rate_limit: float = Field(description="the bounce rate at which bulk sends are paused (409 domain_paused)")
    complaint_rate_limit: float = Field(description="the complaint rate at which bulk sends are paused")
    paused: bool = Field(description="true exactly when POST /jobs/bulk for the domain would answer 409 domain_paused")
    message: str | None = Field(description="when paused: why, and how to resume (the 409's message); else null")
