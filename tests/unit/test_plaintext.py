"""The plain-text alternative of an HTML-only email: pure logic, no AWS."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.logic.plaintext import NO_TEXT, SHORTENED_NOTE, html_to_text, plain_text_alternative
from tests.helpers import ROOT

_HIDDEN = "HIDDEN-7f3a"  # stands for what must never reach the text


@pytest.mark.parametrize(
    "html",
    [
        f"<script>var t = '{_HIDDEN}';</script><p>Hello</p>",
        f"<style>.{_HIDDEN} {{ color: red }}</style><p>Hello</p>",
        f"<html><head><title>{_HIDDEN}</title></head><body><p>Hello</p></body></html>",
        f'<div style="display: none">{_HIDDEN}</div><p>Hello</p>',
        f"<p>Hello</p><!-- {_HIDDEN} -->",
        f"<p>Hello</p><SCRIPT type='text/javascript'>{_HIDDEN}()</SCRIPT>",
    ],
    ids=["script", "style", "head", "display none", "comment", "upper-case script"],
)
def test_what_a_mail_client_does_not_show_stays_out(html: str) -> None:
    assert html_to_text(html) == "Hello"


def test_layout_and_links_are_kept() -> None:
    html = (
        "<h1>Your week</h1><p>Three   visitors\nasked for you.</p>"
        "<ul><li>Ann</li><li>Bob</li></ul>"
        '<p>See <a href="https://app.example.com/c/1">the conversation</a>.</p>'
        "<p>Fish &amp; chips</p>"
    )
    assert html_to_text(html) == (
        "Your week\n\nThree visitors asked for you.\n\n  * Ann\n  * Bob\n\n"
        "See [the conversation](https://app.example.com/c/1).\n\nFish & chips"
    )


@pytest.mark.parametrize("html", ["<img src='cid:logo'>", " ", "<p>   </p>", "<script>x()</script>"])
def test_html_without_text_gets_a_sentence_saying_so(html: str) -> None:
    assert plain_text_alternative(html, max_chars=1_000, max_bytes=1_000) == NO_TEXT


def test_text_that_fits_is_not_touched() -> None:
    assert plain_text_alternative("<p>Hello</p>", max_chars=5, max_bytes=5) == "Hello"


def test_text_too_long_is_cut_and_says_so() -> None:
    text = plain_text_alternative("<p>" + "word " * 100 + "</p>", max_chars=100, max_bytes=10_000)
    assert len(text) <= 100
    assert text.endswith(SHORTENED_NOTE)
    assert text.startswith("word word")


def test_text_is_never_cut_inside_a_character() -> None:
    text = plain_text_alternative("<p>" + "€" * 100 + "</p>", max_chars=1_000, max_bytes=len(SHORTENED_NOTE) + 10)
    assert text == "€€€" + SHORTENED_NOTE  # 9 of the 10 bytes: a fourth € would need 12


@settings(max_examples=200, deadline=None)
@given(
    st.text(),
    st.integers(min_value=len(SHORTENED_NOTE), max_value=500),
    st.integers(min_value=len(SHORTENED_NOTE.encode()), max_value=1_500),
)
def test_any_html_gives_a_text_within_both_bounds(html: str, max_chars: int, max_bytes: int) -> None:
    text = plain_text_alternative(html, max_chars=max_chars, max_bytes=max_bytes)
    assert text
    assert len(text) <= max_chars
    assert len(text.encode()) <= max_bytes


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="<"), max_size=200))
def test_script_content_never_leaks_whatever_text_surrounds_it(around: str) -> None:
    html = f"<p>{around}</p><script>{_HIDDEN}</script><style>{_HIDDEN}</style>"
    assert _HIDDEN not in html_to_text(html)


def test_the_library_is_imported_only_when_an_html_only_email_arrives() -> None:
    # Importing the enqueue handler (its cold start) must not load inscriptis or lxml.
    code = (
        "import sys; from tests.helpers import load_function; load_function('enqueue'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('inscriptis', 'lxml')))"
    )
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "1", "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
