"""Settings every admin API function shares (CORS, the JWT claim of the
caller's domains) and one-click unsubscribe's, on the shared parts of
``common.models.settings``. Each other API function's settings are with its
own models, so that no function builds another's
(docs/adr/0033-cold-starts.md): ``common.models.listing``,
``common.models.bulk_send``, ``common.models.actions`` and
``common.models.suppression_list``."""

from functools import cache

from pydantic import Field

from common.models.settings import (
    FunctionSettings,
    JobsSettings,
    UnsubscribeKeySettings,
    load,
    registered,
)


class CorsSettings(FunctionSettings):
    # The admin dashboard's origin; without it, the API sends no CORS headers.
    cors_allow_origin: str | None = Field(alias="CORS_ALLOW_ORIGIN", default=None, min_length=1)


class ApiSettings(JobsSettings):
    # The JWT claim listing the caller's domains.
    domains_claim: str = Field(alias="DOMAINS_CLAIM", default="domains", min_length=1)


class UnsubscribeSettings(JobsSettings, UnsubscribeKeySettings):
    pass


@registered
@cache
def get_cors_settings() -> CorsSettings:
    return load(CorsSettings)


@registered
@cache
def get_unsubscribe_settings() -> UnsubscribeSettings:
    return load(UnsubscribeSettings)
