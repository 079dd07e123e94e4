"""Time in one place: UTC only, RFC 3339 with milliseconds and a trailing ``Z``.

Pure functions in the lowest layer, so the models, the adapters and the logic
all take their times from here (docs/adr/0046-key-formats-and-clock-below-the-logic.md)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_rfc3339(moment: datetime) -> str:
    """``2026-11-23T23:08:08.123Z``: the one format the service writes."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def epoch_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
