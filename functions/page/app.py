"""PageFunction: the Email Operations page, GET / and GET /static/{file}, without a
token (the page asks for one; every API call it makes carries it)."""

from __future__ import annotations

# No collection until the imports are done (docs/adr/0033-cold-starts.md).
import gc

gc.disable()

import json
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from common.adapters.observability import logger
from common.logic.page import SECURITY_HEADERS, PageAssets

# web/ of the repository: a link here, so that sam build copies the files into
# this function's artifact.
WEB = Path(__file__).resolve().parent / "web"


@cache
def assets() -> PageAssets:
    return PageAssets(WEB)


def _not_found() -> dict[str, Any]:
    # The API's error envelope (common.models.api.ErrorResponse), written out:
    # this function serves files and imports no pydantic model.
    body = {"error": {"code": "not_found", "message": "no such file"}}
    return {
        "statusCode": 404,
        "headers": {"content-type": "application/json", **SECURITY_HEADERS},
        "body": json.dumps(body),
    }


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    name = (event.get("pathParameters") or {}).get("file")
    asset = assets().index() if name is None else assets().static(name)
    if asset is None:
        logger.info("no such page file", extra={"route": event.get("routeKey")})
        return _not_found()
    return asset.response()


# What init made is never garbage: later collections skip it.
gc.freeze()
gc.enable()
