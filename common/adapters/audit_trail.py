"""The audit trail in the jobs table (docs/storage.md, section 3, "Audit
entry"): the only code that writes or reads its entries.

An entry is the item ``pk = audit#<entry id>`` (a ULID whose time is the
entry's ``at``; a bulk send's entry: its bulk id, so a request that finishes a
bulk send writes the same entry again rather than a second one) with
``domain``, ``at``, ``actor``, ``action``, ``target``, ``detail``,
``expires_at`` (``RetentionDays`` after ``at``: kept as long as jobs) and the
keys of ``ByDomainRecord``: ``lk = a#<domain>``, ``ls = <entry id>``.

An action that is one write takes ``put_request`` into its own
``TransactWriteItems`` (or ``BatchWriteItem``): the action is never made
without its entry, nor the entry without the action.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from common.adapters.attribute_values import serialize
from common.adapters.domain_records import AUDIT_KIND, RecordPosition, page_records, record_lk
from common.adapters.dynamo import TableAdapter, storage_error
from common.models.audit import AuditEntry
from common.models.clock import to_rfc3339

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef


def audit_pk(entry_id: str) -> str:
    return f"audit#{entry_id}"


class AuditTrail(TableAdapter):
    """Entries written (alone, or as part of an action's own write) and read."""

    def item(self, domain: str, entry: AuditEntry, *, entry_id: str) -> dict[str, AttributeValueTypeDef]:
        values: dict[str, Any] = {
            "pk": audit_pk(entry_id),
            "lk": record_lk(AUDIT_KIND, domain),
            "ls": entry_id,
            "domain": domain,
            "at": to_rfc3339(entry.at),
            "actor": entry.actor,
            "action": entry.action.value,
            "target": entry.target,
            "detail": entry.detail,
            "expires_at": self.expires_at(entry.at),
        }
        return serialize(values)

    def put_request(self, domain: str, entry: AuditEntry, *, entry_id: str) -> TransactWriteItemTypeDef:
        """The entry as one ``Put`` of a ``TransactWriteItems``."""
        return {"Put": {"TableName": self._table, "Item": self.item(domain, entry, entry_id=entry_id)}}

    def write(self, domain: str, entry: AuditEntry, *, entry_id: str) -> None:
        """The entry of an action of several writes, written after them (one PutItem)."""
        try:
            self._client.put_item(TableName=self._table, Item=self.item(domain, entry, entry_id=entry_id))
        except (ClientError, BotoCoreError) as exc:
            raise storage_error("PutItem (audit entry)", exc) from exc

    def page(
        self, domain: str, *, limit: int, after: RecordPosition | None = None
    ) -> tuple[list[AuditEntry], RecordPosition | None]:
        """Up to ``limit`` of the domain's entries, newest first (one Query)."""
        items, last = page_records(
            self._client,
            self._table,
            record_lk(AUDIT_KIND, domain),
            limit=limit,
            after=after,
            operation="Query (audit)",
        )
        return [AuditEntry.model_validate(item) for item in items], last
