"""The one reading of what botocore raised, for every adapter: a ``ClientError``'s
code, and a name for any error (its code, else its class) that says what went
wrong without AWS's own words, which may carry an ARN or an account id."""

from __future__ import annotations

from botocore.exceptions import ClientError


def error_code(exc: BaseException) -> str:
    """A ClientError's code ("" for anything else, or a ClientError without one)."""
    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""


def error_name(exc: BaseException) -> str:
    """A ClientError's code, else the error's class name (``EndpointConnectionError``, ...)."""
    return error_code(exc) or type(exc).__name__
