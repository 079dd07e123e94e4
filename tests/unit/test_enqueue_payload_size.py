"""An EnqueueFunction batch fits one synchronous Lambda invocation (6 MB): the
function's own limit keeps every valid batch under it (docs/api.md, "How large
a batch may be")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.logic.enqueue import InvalidPayload, parse_payload
from common.models.requests import MAX_ENQUEUE_PAYLOAD_BYTES, payload_size
from local.lambda_api import MAX_SYNC_PAYLOAD
from tests.unit.test_enqueue_payload import valid_request

# body_text and body_html at 100,000 characters each: the most ASCII a request holds
FULL_ASCII = "b" * 200_000


def _request(n: int, body: str, **changes: Any) -> dict[str, Any]:
    half = len(body) // 2
    return valid_request(to=f"visitor{n}@example.org", body_text=body[:half], body_html=body[half:] or None, **changes)


def _batch(count: int, body: str, **changes: Any) -> dict[str, Any]:
    return {"jobs": [_request(n, body, **changes) for n in range(count)]}


def test_the_limit_leaves_room_under_lambdas_6_mb():
    assert MAX_ENQUEUE_PAYLOAD_BYTES < MAX_SYNC_PAYLOAD == 6 * 1024 * 1024


def test_the_largest_batch_of_full_ascii_bodies_is_29_requests():
    # docs/api.md: 29 requests whose two bodies take 100,000 ASCII characters each fit; 30 do not
    largest = _batch(29, FULL_ASCII)
    assert len(parse_payload(largest)) == 29
    assert payload_size(largest) <= MAX_ENQUEUE_PAYLOAD_BYTES < payload_size(_batch(30, FULL_ASCII))

    with pytest.raises(InvalidPayload) as refused:
        parse_payload(_batch(30, FULL_ASCII))

    (detail,) = refused.value.details
    assert detail.index is None
    assert "at most 6000000 bytes fit one call" in detail.message
    assert "send fewer requests per call" in detail.message


def test_100_requests_fit_with_bodies_of_58_kb_each_and_every_other_field_at_its_longest():
    # docs/api.md: 58,000 bytes of ASCII bodies each fit; 59,000 do not
    address = "l" * 64 + "@" + ("m" * 61 + ".") * 3 + "com"  # 254 characters: email's longest
    longest = {
        "domain": ("a" * 63 + ".") * 3 + "d" * 61,  # 253 characters
        "subject": "s" * 200,
        "reply_to": address,
        "idempotency_key": "k" * 128,
    }
    batch = {"jobs": [{**request, "to": address} for request in _batch(100, "b" * 58_000, **longest)["jobs"]]}
    assert len(parse_payload(batch)) == 100
    over = {"jobs": [{**request, "to": address} for request in _batch(100, "b" * 59_000, **longest)["jobs"]]}
    with pytest.raises(InvalidPayload):
        parse_payload(over)


def test_non_ascii_bodies_are_measured_as_json_dumps_escapes_them():
    # 3 requests of 150,000 "é": 300,000 bytes of UTF-8 each, 900,000 bytes as
    # \\u00e9 escapes; 7 take 6.3 MB written by json.dumps, though only 2.1 MB in
    # raw UTF-8: refused, whatever encoding the caller used
    body = "é" * 150_000
    assert len(parse_payload(_batch(6, body))) == 6
    seven = _batch(7, body)
    assert len(json.dumps(seven, ensure_ascii=False).encode()) < MAX_ENQUEUE_PAYLOAD_BYTES < payload_size(seven)
    with pytest.raises(InvalidPayload):
        parse_payload(seven)


def test_every_valid_batch_fits_one_invocation_as_json_dumps_writes_it():
    # The largest payload the checks let through, in the encodings callers use
    for body in (FULL_ASCII, "é" * 150_000, "\x01" * 200_000, "😀" * 75_000):
        assert len(parse_payload(_batch(1, body))) == 1  # each a request at its own limits
        count = 1
        while True:
            try:
                parse_payload(_batch(count + 1, body))
            except InvalidPayload:
                break
            count += 1
        largest = _batch(count, body)
        for encoded in (json.dumps(largest).encode(), json.dumps(largest, ensure_ascii=False).encode()):
            assert len(encoded) <= MAX_SYNC_PAYLOAD


def test_a_single_request_at_its_limits_is_never_refused_for_size():
    # One request alone is at most a few MB even fully escaped: it always fits
    assert len(parse_payload(_request(0, "\x01" * 100_000 + "😀" * 50_000))) == 1
