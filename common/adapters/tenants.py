"""SES tenants (template parameter ``SesTenants``): each domain is an SES tenant,
made on its first send, and every email is sent under it (``TenantName``).

A tenant has its own reputation and sending status in SES: a domain whose
list bounces is reviewed, and paused, on its own, not the whole account
(docs/adr/0031-ses-tenants-option.md). A tenant may send only with the resources
associated with it, so the sender identity and the configuration set are
associated when the tenant is made.

Made on first use, once per execution environment (``Tenants`` is kept by the
worker's handler): ``CreateTenant`` and two ``CreateTenantResourceAssociation``,
each ``AlreadyExistsException`` meaning another environment got there first.
If a tenant cannot be made (a quota, a missing permission, SES down), the
email is sent without one (the account's reputation, as with the option off)
and the failure is logged; the domain is tried again after
``RETRY_AFTER_SECONDS``. Delivery matters more than isolation.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters.botocore_errors import error_code, error_name
from common.adapters.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

MAX_TENANT_NAME_CHARS = 64  # SES: TenantName is 1-64 letters, digits, '-' and '_'
TENANT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RETRY_AFTER_SECONDS = 300.0
_HASH_CHARS = 16


def tenant_name(domain: str) -> str:
    """The SES tenant of a domain: its dots as ``_`` (a host name has no ``_``,
    so no two domains meet); longer than 64, its first 47 characters, ``-``,
    and 16 hex digits of a hash of the whole."""
    name = domain.replace(".", "_")
    if len(name) > MAX_TENANT_NAME_CHARS:
        digest = hashlib.sha256(domain.encode()).hexdigest()[:_HASH_CHARS]
        name = f"{name[: MAX_TENANT_NAME_CHARS - _HASH_CHARS - 1]}-{digest}"
    if not TENANT_NAME.fullmatch(name):
        raise ValueError("a domain must be a host name to name an SES tenant")
    return name


class Tenants:
    """Which domains' tenants this execution environment has made (or found)."""

    def __init__(
        self,
        client: SESV2Client,
        *,
        identity_arn: str,
        configuration_set_arn: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._resources = (identity_arn, configuration_set_arn)
        self._clock = clock
        self._ready: set[str] = set()
        self._failed_at: dict[str, float] = {}

    def for_domain(self, domain: str) -> str | None:
        """The tenant to send ``domain``'s email under, made if needed; ``None``
        when it could not be made (send without one)."""
        name = tenant_name(domain)
        if name in self._ready:
            return name
        failed = self._failed_at.get(name)
        if failed is not None and self._clock() - failed < RETRY_AFTER_SECONDS:
            return None
        try:
            self._create(name)
        except (ClientError, BotoCoreError) as exc:
            self._failed_at[name] = self._clock()
            # The code only: SES's message may name the account or an ARN.
            logger.warning(
                "SES tenant not made: sending without it", extra={"domain": domain, "error": error_name(exc)}
            )
            return None
        self._failed_at.pop(name, None)
        self._ready.add(name)
        logger.info("SES tenant ready", extra={"domain": domain, "tenant": name})
        return name

    def _create(self, name: str) -> None:
        try:
            self._client.create_tenant(TenantName=name)
        except ClientError as exc:
            if error_code(exc) != "AlreadyExistsException":
                raise
        for arn in self._resources:
            try:
                self._client.create_tenant_resource_association(TenantName=name, ResourceArn=arn)
            except ClientError as exc:
                if error_code(exc) != "AlreadyExistsException":
                    raise
