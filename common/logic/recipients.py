"""Recipients of a bulk send: addresses typed in by an admin, split, checked
for syntax (email-validator, no DNS look-up), and de-duplicated
case-insensitively in the order they were first seen. Pure: no AWS here.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from common.models.job import normalize_address

# Commas, semicolons, spaces and line breaks (and any other whitespace).
_SEPARATORS = re.compile(r"[,;\s]+")


def split_addresses(text: str) -> list[str]:
    """The pieces of a typed-in list, in order, without empty ones."""
    return [piece for piece in _SEPARATORS.split(text) if piece]


class Rejection(NamedTuple):
    input: str
    reason: str


class RecipientList:
    """Recipients collected in the order first seen.

    ``addresses`` holds each accepted address once, in its normal form and in
    the spelling first seen; ``duplicates`` counts the valid ones dropped
    because an address equal to them but for case was already there;
    ``rejected`` lists each input that was refused (once) with its reason.
    """

    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.rejected: list[Rejection] = []
        self.duplicates = 0
        self._keys: set[str] = set()
        self._rejected_inputs: set[str] = set()

    def add(self, address: str, *, source: str | None = None) -> None:
        """Add one address; ``source`` is what to name when it is rejected (default: the address)."""
        try:
            normal = normalize_address(address)
        except ValueError as exc:
            self.reject(source if source is not None else address, str(exc))
            return
        key = normal.lower()
        if key in self._keys:
            self.duplicates += 1
            return
        self._keys.add(key)
        self.addresses.append(normal)

    def add_typed(self, text: str) -> None:
        """Add every address of a typed-in list."""
        for piece in split_addresses(text):
            self.add(piece)

    def reject(self, source: str, reason: str) -> None:
        if source in self._rejected_inputs:
            return
        self._rejected_inputs.add(source)
        self.rejected.append(Rejection(source, reason))


def parse_recipients(text: str) -> RecipientList:
    """A typed-in list, split, checked and de-duplicated."""
    recipients = RecipientList()
    recipients.add_typed(text)
    return recipients
