"""Secrets Manager: secrets read at run time, never put into the environment.

Each value is read once and then kept for ``max_age`` seconds per execution
environment (``common.adapters.secret_values.SecretValues``, one per environment:
``common.adapters.aws.secrets``):
a function makes one ``GetSecretValue`` call per secret when it first needs it
and one more per ``max_age`` after that, so a rotated secret is picked up within
``max_age`` without a deploy. A ``max_age`` of 0 reads on every call.

The values are kept here, over the functions' own botocore client, rather than
by Powertools' parameters utility, which imports boto3 (docs/adr/0014-secrets-read-at-run-time.md).
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters import aws
from common.adapters.botocore_errors import error_name
from common.adapters.secret_values import SecretValues
from common.models.errors import SecretUnavailable


def read_secret(secret_id: str, *, max_age: int, min_length: int = 1, values: SecretValues | None = None) -> str:
    """The string value of secret ``secret_id`` (its ARN or name).

    Raises ``SecretUnavailable`` naming only the AWS error code: botocore's
    message quotes the secret's ARN (and the account id), which are never logged.
    """
    try:
        value = (values or aws.secrets()).get(secret_id, max_age=max_age)
    except (ClientError, BotoCoreError) as exc:
        raise SecretUnavailable(f"a secret could not be read: {error_name(exc)}") from None
    if not isinstance(value, str) or len(value) < min_length:
        raise SecretUnavailable(f"a secret is not a string of at least {min_length} characters")
    return value
