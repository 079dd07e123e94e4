"""What ``GET /suppressions`` takes and answers, and the settings of the
function that serves the suppression routes. Only that function builds them
(docs/adr/0033-cold-starts.md)."""

from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from common.models.api_settings import ApiSettings
from common.models.job import Domain
from common.models.paging import DEFAULT_PAGE_SIZE, MAX_CURSOR_CHARS, MAX_PAGE_SIZE
from common.models.settings import CursorKeySettings, load, registered
from common.models.suppression import SuppressionEntry


class ListSuppressionsQuery(BaseModel):
    model_config = ConfigDict(defer_build=True)

    domain: Domain = Field(description="one of your domains (required)")
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(
        default=None, min_length=1, max_length=MAX_CURSOR_CHARS, description="next_cursor of the previous page"
    )


class SuppressionsPage(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[SuppressionEntry]
    next_cursor: str | None = Field(description="null on the last page")


# ------------------------------------------------------------------ settings
class SuppressionsSettings(ApiSettings, CursorKeySettings):
    """GET /suppressions' page cursors are signed with the cursor key of GET /jobs."""


@registered
@cache
def get_suppressions_settings() -> SuppressionsSettings:
    return load(SuppressionsSettings)
