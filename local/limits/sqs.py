"""SQS's limits, in the embedded SQS (moto 5.2.5) as SQS applies them.

- **Message size**: the body and every message attribute (its name, its data
  type and its value) in bytes, at most 262,144 (256 KiB) or the queue's
  ``MaximumMessageSize`` if lower: ``InvalidParameterValue`` "One or more
  parameters are invalid. Reason: Message must be shorter than 262144 bytes."
  moto counted the body's characters only, against 1 MiB.

  Two of AWS's documents disagree on the maximum: the SQS API reference
  (``SendMessage``, ``SendMessageBatch``, ``CreateQueue``'s
  ``MaximumMessageSize``) gives 1 MiB since 2025; the SQS developer guide's
  "Amazon SQS message quotas" still gives 256 KiB (262,144 bytes). The stricter
  one is enforced: a queue made before the change, or in a Region that has not
  taken it, keeps 256 KiB, and the service's messages are a few hundred bytes,
  so nothing is lost by it.
- **Batches**: at most 10 entries in ``SendMessageBatch`` (moto's own check),
  ``DeleteMessageBatch`` and ``ChangeMessageVisibilityBatch`` (moto took any
  number: ``TooManyEntriesInBatchRequest``), and a ``SendMessageBatch``'s
  messages together at most the same 262,144 bytes (``BatchRequestTooLong``).
- **Message attributes**: at most 10 per message.
- **Message content**: only the characters XML allows (#x9, #xA, #xD, #x20 to
  #xD7FF, #xE000 to #xFFFD, #x10000 to #x10FFFF): ``InvalidMessageContents``.
- **MessageGroupId**: 1 to 128 characters, letters, digits and punctuation.
"""

from __future__ import annotations

import base64
import binascii
import functools
import importlib
import inspect
import re
from collections.abc import Mapping
from typing import Any

# "Amazon SQS message quotas" (the stricter of AWS's two figures: see above).
MAX_MESSAGE_BYTES = 262_144
MAX_BATCH_ENTRIES = 10
MAX_MESSAGE_ATTRIBUTES = 10
MAX_GROUP_ID_CHARS = 128
_INVALID_CHARACTER = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_GROUP_ID = re.compile(r"^[!-~]{1,128}$")  # letters, digits and punctuation: printable ASCII but the space


def _binary_size(value: Any) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    try:
        return len(base64.b64decode(str(value), validate=True))
    except (binascii.Error, ValueError):
        return len(str(value).encode())


def attribute_size(name: str, attribute: Mapping[str, Any]) -> int:
    """One message attribute's share of the message size: name, data type and value."""
    size = len(name.encode()) + len(str(attribute.get("DataType", "")).encode())
    if attribute.get("StringValue") is not None:
        size += len(str(attribute["StringValue"]).encode())
    if attribute.get("BinaryValue") is not None:
        size += _binary_size(attribute["BinaryValue"])
    return size


def message_size(body: str, attributes: Mapping[str, Mapping[str, Any]] | None) -> int:
    """A message's size as SQS counts it: the body in UTF-8 and every attribute."""
    return len(body.encode("utf-8", "surrogatepass")) + sum(
        attribute_size(name, value) for name, value in (attributes or {}).items()
    )


def queue_limit(queue: Any) -> int:
    """The most a message on ``queue`` may take."""
    try:
        configured = int(queue.maximum_message_size)
    except (TypeError, ValueError):
        configured = MAX_MESSAGE_BYTES
    return min(configured, MAX_MESSAGE_BYTES)


def apply() -> None:
    """Patch moto's SQS in this process (``local.limits.apply`` calls it once)."""
    models: Any = importlib.import_module("moto.sqs.models")
    exceptions: Any = importlib.import_module("moto.sqs.exceptions")
    backend = models.SQSBackend

    def check_message(queue: Any, body: str, attributes: Mapping[str, Any] | None, group_id: str | None) -> None:
        if _INVALID_CHARACTER.search(body):
            raise exceptions.SQSException(
                "InvalidMessageContents",
                "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
                "#xE000 to #xFFFD | #x10000 to #x10FFFF",
            )
        if attributes and len(attributes) > MAX_MESSAGE_ATTRIBUTES:
            raise exceptions.InvalidParameterValue(
                f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum "
                f"[{MAX_MESSAGE_ATTRIBUTES}]."
            )
        limit = queue_limit(queue)
        if message_size(body, attributes) > limit:
            raise exceptions.InvalidParameterValue(
                f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes."
            )
        if group_id is not None and not _GROUP_ID.match(group_id):
            raise exceptions.InvalidParameterValue(
                f"Value {group_id} for parameter MessageGroupId is invalid. Reason: MessageGroupId can only "
                f"include alphanumeric and punctuation characters. 1 to {MAX_GROUP_ID_CHARS} in length."
            )

    send_message = backend.send_message
    signature = inspect.signature(send_message)

    @functools.wraps(send_message)
    def send_message_within_limits(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = signature.bind(self, *args, **kwargs).arguments
        queue = self.get_queue(call["queue_name"])
        check_message(queue, call["message_body"], call.get("message_attributes"), call.get("group_id"))
        return send_message(self, *args, **kwargs)

    send_message_batch = backend.send_message_batch

    @functools.wraps(send_message_batch)
    def send_message_batch_within_limits(self: Any, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
        if len(entries) > MAX_BATCH_ENTRIES:
            raise exceptions.TooManyEntriesInBatchRequest(len(entries))
        queue = self.get_queue(queue_name)
        total = 0
        for entry in entries.values():
            body = str(entry.get("MessageBody", ""))
            attributes = entry.get("MessageAttributes")
            check_message(queue, body, attributes, entry.get("MessageGroupId"))
            total += message_size(body, attributes)
        limit = queue_limit(queue)
        if total > limit:
            raise exceptions.SQSException(
                "BatchRequestTooLong",
                f"Batch requests cannot be longer than {limit} bytes. You have sent {total} bytes.",
            )
        return send_message_batch(self, queue_name, entries)

    def at_most_ten(original: Any) -> Any:
        @functools.wraps(original)
        def batch_within_limits(self: Any, queue_name: str, entries: list[Any]) -> Any:
            if len(entries) > MAX_BATCH_ENTRIES:
                raise exceptions.TooManyEntriesInBatchRequest(len(entries))
            return original(self, queue_name, entries)

        return batch_within_limits

    backend.send_message = send_message_within_limits
    backend.send_message_batch = send_message_batch_within_limits
    backend.delete_message_batch = at_most_ten(backend.delete_message_batch)
    backend.change_message_visibility_batch = at_most_ten(backend.change_message_visibility_batch)
