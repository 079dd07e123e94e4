"""Typed-in recipients: split, checked with email-validator (and for what SES
can send to), de-duplicated."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from common.adapters.job_store import JobRecipient
from common.logic.bulk import collect_recipients
from common.logic.recipients import RecipientList, parse_recipients, split_addresses
from common.models.bulk_send import BulkSendRequest
from common.models.job import NON_ASCII_LOCAL_PART

ROW = "01JGQ6Z1T8W3Y5K7M9P2R4S6V8"


def valid(address: str) -> bool:
    """email-validator's syntax, less what SES cannot send to (a non-ASCII local part)."""
    try:
        validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return False
    return True


# ------------------------------------------------------------------ examples
def test_the_help_pages_separators() -> None:
    text = "a@x.com, b@y.org\nc@z.net d@w.io;e@v.dev\r\nf@u.eu\tg@t.io ,;\n"
    assert parse_recipients(text).addresses == [
        "a@x.com",
        "b@y.org",
        "c@z.net",
        "d@w.io",
        "e@v.dev",
        "f@u.eu",
        "g@t.io",
    ]


def test_duplicates_are_dropped_case_insensitively_keeping_the_first() -> None:
    parsed = parse_recipients("Ann@Example.org ann@example.ORG, bob@example.org ANN@EXAMPLE.ORG")
    assert parsed.addresses == ["Ann@example.org", "bob@example.org"]
    assert parsed.duplicates == 2
    assert parsed.rejected == []


def test_each_rejected_input_is_listed_once_with_a_reason() -> None:
    parsed = parse_recipients("ok@example.org not-an-address a@b@c not-an-address @example.org")
    assert parsed.addresses == ["ok@example.org"]
    assert [r.input for r in parsed.rejected] == ["not-an-address", "a@b@c", "@example.org"]
    assert all(r.reason for r in parsed.rejected)


def test_display_names_and_angle_brackets_are_not_addresses() -> None:
    parsed = parse_recipients("<ann@example.org>")
    assert parsed.addresses == []
    assert parsed.rejected[0].input == "<ann@example.org>"


def test_no_dns_look_up_is_made() -> None:
    # A domain that cannot exist: only syntax is checked.
    assert parse_recipients("someone@surely-no-such-domain-a8d7f6.example").addresses == [
        "someone@surely-no-such-domain-a8d7f6.example"
    ]


def test_an_address_from_a_selected_row_is_named_by_its_source_when_rejected() -> None:
    recipients = RecipientList()
    recipients.add("broken@", source="01JGQ6Z1T8W3Y5K7M9P2R4S6V8")
    assert recipients.rejected[0].input == "01JGQ6Z1T8W3Y5K7M9P2R4S6V8"


def test_a_non_ascii_local_part_is_rejected_with_its_reason() -> None:
    # Given addresses SES cannot send to, beside one with an internationalised domain
    parsed = parse_recipients("müller@example.com, user@bücher.de; Ä@ü.de josé@xn--bcher-kva.de")
    # Then only the internationalised domain with an ASCII local part is kept
    assert parsed.addresses == ["user@bücher.de"]
    # And each other one is rejected, saying why
    assert [(r.input, r.reason) for r in parsed.rejected] == [
        ("müller@example.com", NON_ASCII_LOCAL_PART),
        ("Ä@ü.de", NON_ASCII_LOCAL_PART),
        ("josé@xn--bcher-kva.de", NON_ASCII_LOCAL_PART),
    ]


def test_an_internationalised_domain_is_one_recipient_in_either_spelling() -> None:
    parsed = parse_recipients("user@bücher.de USER@XN--BCHER-KVA.DE")
    assert parsed.addresses == ["user@bücher.de"]
    assert parsed.duplicates == 1


def test_bulk_send_applies_the_same_rules_to_typed_addresses_and_selected_rows() -> None:
    # Given a bulk send whose selected row and typed-in list hold non-ASCII local parts
    request = BulkSendRequest(
        domain="acme.com",
        job_ids=[ROW],
        extra_recipients="zoë@example.org ok@bücher.de",
        subject="Hello",
        body="Hi",
    )
    rows = [JobRecipient(job_id=ROW, domain="acme.com", recipient="jürgen@acme.com")]
    # When its recipients are collected
    recipients = collect_recipients(request, rows)
    # Then those are rejected with the reason, the row named by its id
    assert recipients.addresses == ["ok@bücher.de"]
    assert [(r.input, r.reason) for r in recipients.rejected] == [
        (ROW, NON_ASCII_LOCAL_PART),
        ("zoë@example.org", NON_ASCII_LOCAL_PART),
    ]


@pytest.mark.parametrize("text", ["", "   ", ",;,\n\n", "\t\r\n"])
def test_nothing_typed_is_nothing(text: str) -> None:
    parsed = parse_recipients(text)
    assert (parsed.addresses, parsed.rejected, parsed.duplicates) == ([], [], 0)


# ------------------------------------------------------------------ properties
_local = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-!#'", min_size=1, max_size=20
)
_domain = st.sampled_from(["example.org", "EXAMPLE.org", "acme.com", "b.io", "xn--bcher-kva.example", "localhost", "a"])
_plausible = st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain)
_separator = st.sampled_from([",", ";", " ", "\n", "\r\n", "\t", ", ", " ;\n"])
_odd = st.sampled_from(["a@b", "@", "x@y.z", "Ä@ü.de", "a@ü.de", "ü@a.de"])
_token = st.one_of(_plausible, st.text(min_size=1, max_size=30), _odd)
_lists = st.lists(st.tuples(_token, _separator), max_size=30).map(lambda pairs: "".join(t + s for t, s in pairs))


@settings(deadline=None)
@given(st.text())
def test_never_crashes_on_any_text(text: str) -> None:
    parse_recipients(text)


@settings(max_examples=300, deadline=None)
@given(_lists)
def test_never_accepts_what_the_validator_rejects(text: str) -> None:
    parsed = parse_recipients(text)
    for address in parsed.addresses:
        assert valid(address)
    for piece in split_addresses(text):
        if not valid(piece):
            assert piece in {r.input for r in parsed.rejected}


@settings(max_examples=300, deadline=None)
@given(_lists)
def test_output_is_unique_case_insensitively(text: str) -> None:
    addresses = parse_recipients(text).addresses
    assert len({a.lower() for a in addresses}) == len(addresses)


@settings(max_examples=300, deadline=None)
@given(_lists)
def test_order_is_stable_first_seen_wins(text: str) -> None:
    parsed = parse_recipients(text)
    # The same list computed by hand: valid pieces, normalized, first of each kind kept.
    expected: list[str] = []
    seen: set[str] = set()
    for piece in split_addresses(text):
        if valid(piece):
            normal = validate_email(piece, check_deliverability=False, allow_smtputf8=False).normalized
            if normal.lower() not in seen:
                seen.add(normal.lower())
                expected.append(normal)
    assert parsed.addresses == expected
    # And parsing is deterministic.
    assert parse_recipients(text).addresses == expected


@settings(max_examples=300, deadline=None)
@given(_lists)
def test_every_piece_is_accounted_for(text: str) -> None:
    parsed = parse_recipients(text)
    pieces = split_addresses(text)
    rejected_pieces = [p for p in pieces if p in {r.input for r in parsed.rejected}]
    assert len(parsed.addresses) + parsed.duplicates + len(rejected_pieces) == len(pieces)


@settings(deadline=None)
@given(_lists)
def test_splitting_leaves_no_separator_inside_a_piece(text: str) -> None:
    for piece in split_addresses(text):
        assert piece
        assert not any(ch in piece for ch in ",; \n\r\t")
