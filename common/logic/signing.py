"""Signed tokens: ``<base64url payload>.<base64url HMAC-SHA256>``, the form of
the log's and the suppression list's page cursors and of unsubscribe tokens.

A purpose string is signed with each payload, so a token made for one use
never passes for another even where the keys are the same."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from common.models.errors import InvalidCursor

Body = TypeVar("Body", bound=BaseModel)
# The shortest cursor key accepted (the log's and the suppression list's): HMAC-SHA256 wants a key of some length.
MIN_CURSOR_KEY_CHARS = 16


def b64encode(raw: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """HMAC-SHA256 of a purpose and a payload with one key; ``size`` bytes kept."""

    def __init__(self, key: str, *, purpose: bytes = b"", size: int = 32) -> None:
        self._key = key.encode()
        self._purpose = purpose
        self._size = size

    def sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, self._purpose + payload, hashlib.sha256).digest()[: self._size]

    def seal(self, payload: bytes) -> str:
        return f"{b64encode(payload)}.{b64encode(self.sign(payload))}"

    def unseal(self, token: str) -> bytes | None:
        """The payload of a token this signer made, or None. Only the canonical
        spelling passes: base64 that decodes to the same bytes otherwise is refused."""
        if token.count(".") != 1:
            return None
        payload_text, signature_text = token.split(".")
        try:
            payload, signature = b64decode(payload_text), b64decode(signature_text)
        except (ValueError, binascii.Error):
            return None
        if b64encode(payload) != payload_text or b64encode(signature) != signature_text:
            return None
        return payload if hmac.compare_digest(signature, self.sign(payload)) else None


class SignedCursors(Generic[Body]):
    """Page cursors holding a JSON ``Body``, signed; any other string is refused
    with 400 ``invalid_cursor`` and a message that says to start again."""

    def __init__(self, key: str, body: type[Body], *, purpose: bytes = b"") -> None:
        self._signer = Signer(key, purpose=purpose)
        self._body = body

    def encode(self, body: Body) -> str:
        return self._signer.seal(body.model_dump_json().encode())

    def decode(self, cursor: str) -> Body:
        if cursor.count(".") != 1:
            raise InvalidCursor("the cursor is malformed: start again without it")
        payload = self._signer.unseal(cursor)
        if payload is None:
            raise InvalidCursor("the cursor is not one this service made: start again without it")
        try:
            return self._body.model_validate(json.loads(payload))
        except (ValueError, ValidationError) as exc:
            raise InvalidCursor("the cursor is malformed or of an older version: start again without it") from exc
