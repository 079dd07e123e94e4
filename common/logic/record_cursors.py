"""Page cursors of a domain's records (``GET /audit``, ``GET /bulks``): the
domain and the last record's keys, signed (HMAC-SHA256) with the cursor key
and a purpose of their own route, so a cursor of one domain, of one route, or
altered, is 400 ``invalid_cursor``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from common.adapters.domain_records import RecordPosition
from common.logic.signing import SignedCursors
from common.models.errors import InvalidCursor
from common.models.job import JOB_ID_RE


class _CursorBody(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    d: str  # the domain listed
    s: str = Field(pattern=JOB_ID_RE.pattern)  # the last record's sort key (a ULID)
    p: str = Field(max_length=200)  # the last record's item key


class RecordCursors:
    def __init__(self, key: str, *, purpose: bytes) -> None:
        self._cursors = SignedCursors(key, _CursorBody, purpose=purpose)

    def encode(self, domain: str, position: RecordPosition) -> str:
        return self._cursors.encode(_CursorBody(d=domain, s=position.ls, p=position.pk))

    def decode(self, cursor: str, *, domain: str) -> RecordPosition:
        body = self._cursors.decode(cursor)
        if body.d != domain:
            raise InvalidCursor("the cursor belongs to another domain's list: start again without it")
        return RecordPosition(ls=body.s, pk=body.p)
