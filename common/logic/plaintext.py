"""The plain-text alternative of an HTML-only email (docs/api.md).

Made by inscriptis (Apache-2.0; docs/adr/0012-html-only-emails-inscriptis.md says why):
block elements become lines, lists and tables keep their layout, link targets
are kept as ``[text](url)`` so an invitation's link survives, and what a mail
client does not show (``script``, ``style``, ``head``, ``display: none``) is
left out. The text is bounded like any body: at most ``max_chars`` characters
and ``max_bytes`` bytes of UTF-8; a longer one is cut and ends with
``SHORTENED_NOTE``.
"""

from __future__ import annotations

# Ends a text that had to be cut to fit.
SHORTENED_NOTE = "\n\n[Shortened: the HTML version of this email has the full text.]"
# The text of an HTML that shows no text at all (only images, say).
NO_TEXT = "[This email has no text version: open it in a mail client that shows HTML.]"


def html_to_text(html: str) -> str:
    """What a person reads in ``html``, as plain text (surrounding blank space removed)."""
    # inscriptis (and lxml) are imported on first use: only an HTML-only email
    # pays for them, never the cold start of the function (docs/benchmarks.md).
    from inscriptis import get_text  # type: ignore[import-untyped]  # noqa: PLC0415
    from inscriptis.css_profiles import CSS_PROFILES  # type: ignore[import-untyped]  # noqa: PLC0415
    from inscriptis.model.config import ParserConfig  # type: ignore[import-untyped]  # noqa: PLC0415

    # "strict": no blank padding around inline elements; links keep their targets.
    config = ParserConfig(css=CSS_PROFILES["strict"].copy(), display_links=True)
    lines = (line.rstrip() for line in get_text(html, config).splitlines())
    return "\n".join(lines).strip()


def _fit(text: str, *, max_chars: int, max_bytes: int) -> str:
    """``text`` cut to at most ``max_chars`` characters and ``max_bytes`` UTF-8 bytes,
    never inside a character."""
    cut = text[:max_chars]
    return cut.encode()[:max_bytes].decode(errors="ignore")


def plain_text_alternative(html: str, *, max_chars: int, max_bytes: int) -> str:
    """The text to send beside ``html``: never empty, within both bounds.

    ``max_bytes`` must leave room for ``SHORTENED_NOTE`` (the request model
    reserves it).
    """
    text = html_to_text(html) or NO_TEXT
    if len(text) <= max_chars and len(text.encode()) <= max_bytes:
        return text
    note = SHORTENED_NOTE
    kept = _fit(text, max_chars=max(0, max_chars - len(note)), max_bytes=max(0, max_bytes - len(note.encode())))
    return kept.rstrip() + note
