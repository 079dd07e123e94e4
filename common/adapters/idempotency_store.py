"""Powertools idempotency's records in DynamoDB, over the service's botocore client.

Powertools' own ``DynamoDBPersistenceLayer`` imports boto3 (for its version
and, when it is given no client, a session), and boto3's package imports
s3transfer and with it multiprocessing: about a tenth of ``import boto3`` at
every cold start of Bulk Send, for a client this service already makes with
botocore (docs/adr/0020-bulk-send-idempotency.md). This is Powertools'
extension point for a store of one's own (``BasePersistenceLayer``);
Powertools keeps the logic (hashing, expiry, the in-progress window, the
cached response), this class only reads and writes.

It writes the items Powertools' layer writes, with the same defaults
(partition key ``id``, ``expiration``, ``in_progress_expiration``,
``status``, ``data``, ``validation``), under the same conditions:
``tests/unit/test_idempotency_store.py`` runs both over one table and
compares what they store and raise.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS, DataRecord
from botocore.exceptions import ClientError

from common.adapters.attribute_values import deserialize
from common.adapters.botocore_errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

KEY = "id"
EXPIRY = "expiration"
IN_PROGRESS_EXPIRY = "in_progress_expiration"
STATUS = "status"
DATA = "data"
VALIDATION = "validation"

# A key may be taken when it is new, when its record has expired, or when it
# is still in progress past its in-progress expiry (its Lambda timed out).
_TAKE_CONDITION = (
    "attribute_not_exists(#id) OR #expiry < :now"
    " OR (#status = :inprogress AND attribute_exists(#in_progress_expiry) AND #in_progress_expiry < :now_in_millis)"
)


class IdempotencyStore(BasePersistenceLayer):
    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self.client = client
        super().__init__()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated

    def _key(self, idempotency_key: str) -> dict[str, AttributeValueTypeDef]:
        return {KEY: {"S": idempotency_key}}

    def _record(self, item: dict[str, Any]) -> DataRecord:
        data = deserialize(item)
        return DataRecord(
            idempotency_key=data[KEY],
            status=data[STATUS],
            expiry_timestamp=data[EXPIRY],
            in_progress_expiry_timestamp=data.get(IN_PROGRESS_EXPIRY),
            response_data=data.get(DATA, ""),
            payload_hash=data.get(VALIDATION, ""),
        )

    def _get_record(self, idempotency_key: str) -> DataRecord:
        item = self.client.get_item(TableName=self.table_name, Key=self._key(idempotency_key), ConsistentRead=True)
        if "Item" not in item:
            raise IdempotencyItemNotFoundError
        return self._record(item["Item"])

    def _put_record(self, data_record: DataRecord) -> None:
        item: dict[str, AttributeValueTypeDef] = {
            **self._key(data_record.idempotency_key),
            EXPIRY: {"N": str(data_record.expiry_timestamp)},
            STATUS: {"S": data_record.status},
        }
        if data_record.in_progress_expiry_timestamp is not None:
            item[IN_PROGRESS_EXPIRY] = {"N": str(data_record.in_progress_expiry_timestamp)}
        if self.payload_validation_enabled and data_record.payload_hash:
            item[VALIDATION] = {"S": data_record.payload_hash}
        now = dt.datetime.now()
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression=_TAKE_CONDITION,
                ExpressionAttributeNames={
                    "#id": KEY,
                    "#expiry": EXPIRY,
                    "#in_progress_expiry": IN_PROGRESS_EXPIRY,
                    "#status": STATUS,
                },
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now.timestamp()))},
                    ":now_in_millis": {"N": str(int(now.timestamp() * 1000))},
                    ":inprogress": {"S": STATUS_CONSTANTS["INPROGRESS"]},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            old = exc.response.get("Item")  # the record that holds the key
            if not isinstance(old, dict) or not old:
                raise IdempotencyItemAlreadyExistsError from exc
            old_record = self._record(old)
            try:
                self._validate_payload(data_payload=data_record, stored_data_record=old_record)
            except IdempotencyValidationError as mismatch:
                raise mismatch from exc
            self._save_to_cache(data_record=old_record)
            raise IdempotencyItemAlreadyExistsError(old_data_record=old_record) from exc

    def _update_record(self, data_record: DataRecord) -> None:
        names = {"#expiry": EXPIRY, "#response_data": DATA, "#status": STATUS}
        values: dict[str, AttributeValueTypeDef] = {
            ":expiry": {"N": str(data_record.expiry_timestamp)},
            ":response_data": {"S": data_record.response_data or ""},
            ":status": {"S": data_record.status},
        }
        update = "SET #response_data = :response_data, #expiry = :expiry, #status = :status"
        if self.payload_validation_enabled:
            update += ", #validation_key = :validation_key"
            names["#validation_key"] = VALIDATION
            values[":validation_key"] = {"S": data_record.payload_hash or ""}
        self.client.update_item(
            TableName=self.table_name,
            Key=self._key(data_record.idempotency_key),
            UpdateExpression=update,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _delete_record(self, data_record: DataRecord) -> None:
        self.client.delete_item(TableName=self.table_name, Key=self._key(data_record.idempotency_key))
