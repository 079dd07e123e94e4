"""The settings of enqueue, the sweeper and SES's events: built only by those
functions (docs/adr/0033-cold-starts.md)."""

from functools import cache

from pydantic import Field

from common.models.settings import (
    BodiesSettings,
    JobsSettings,
    QueueingSettings,
    StatusEventsSettings,
    load,
    registered,
)


class EnqueueSettings(QueueingSettings, BodiesSettings, StatusEventsSettings):
    pass


class SweeperSettings(QueueingSettings):
    # Jobs re-queued per run at most; the rest wait for the next run.
    sweep_batch_limit: int = Field(alias="SWEEP_BATCH_LIMIT", default=1000, ge=1)


class SesEventsSettings(JobsSettings, StatusEventsSettings):
    """SesEventsFunction: SES's events applied to the jobs table (and its suppression entries)."""


@registered
@cache
def get_enqueue_settings() -> EnqueueSettings:
    return load(EnqueueSettings)


@registered
@cache
def get_sweeper_settings() -> SweeperSettings:
    return load(SweeperSettings)


@registered
@cache
def get_ses_events_settings() -> SesEventsSettings:
    return load(SesEventsSettings)
