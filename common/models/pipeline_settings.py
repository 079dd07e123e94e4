"""The settings of enqueue, the sweeper, the scheduler and SES's events: built only by those
functions (docs/adr/0033-cold-starts.md)."""

from functools import cache

from pydantic import Field

from common.models.settings import BodiesSettings, JobsSettings, QueueingSettings, load, registered


class EnqueueSettings(QueueingSettings, BodiesSettings):
    pass


class SweeperSettings(QueueingSettings):
    # Jobs re-queued per run at most; the rest wait for the next run.
    sweep_batch_limit: int = Field(alias="SWEEP_BATCH_LIMIT", default=1000, ge=1)


class SchedulerSettings(QueueingSettings):
    # How far ahead a run reads what is scheduled, and waits to release it: the
    # schedule's period (docs/adr/0081-scheduled-sends-from-the-due-index.md).
    schedule_window_seconds: int = Field(alias="SCHEDULE_WINDOW_SECONDS", default=60, ge=0, le=600)


class SesEventsSettings(JobsSettings):
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
def get_scheduler_settings() -> SchedulerSettings:
    return load(SchedulerSettings)


@registered
@cache
def get_ses_events_settings() -> SesEventsSettings:
    return load(SesEventsSettings)
