"""Secrets Manager: secrets read at run time, never put into the environment.

Each value is read once and then kept for ``max_age`` seconds per execution
environment by Powertools' parameters utility (``common.adapters.aws.secrets``): a
function makes one ``GetSecretValue`` call per secret when it starts and one
more per ``max_age`` after that, so a rotated secret is picked up within
``max_age`` without a deploy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from common.adapters import aws
from common.models.errors import SecretUnavailable

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider


def read_secret(secret_id: str, *, max_age: int, min_length: int = 1, provider: SecretsProvider | None = None) -> str:
    """The string value of secret ``secret_id`` (its ARN or name).

    Raises ``SecretUnavailable`` naming only the AWS error code: botocore's
    message quotes the secret's ARN (and the account id), which are never logged.
    """
    # Imported on first use, with the provider: Powertools' parameters package
    # imports boto3, which a function that never reads a secret (the worker
    # sending system emails, enqueue, the sweeper) need not load.
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError  # noqa: PLC0415

    try:
        value = (provider or aws.secrets()).get(secret_id, max_age=max_age)
    except GetParameterError as exc:
        cause = exc.__context__
        code = cause.response.get("Error", {}).get("Code", "") if isinstance(cause, ClientError) else ""
        raise SecretUnavailable(f"a secret could not be read: {code or type(cause).__name__}") from None
    if not isinstance(value, str) or len(value) < min_length:
        raise SecretUnavailable(f"a secret is not a string of at least {min_length} characters")
    return value
