"""Each status its own word, shape and colour (issue #31, item 5; docs/page.md,
"Statuses"): bounced, failed and complained no longer share one red cross,
and every pair of colours passes WCAG AA contrast, light and dark."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PageStack, new_domain, token

# Section 2 of the contract, in its order.
STATUSES = [
    "scheduled", "queued", "sending", "retrying", "sent", "delayed", "delivered",
    "bounced", "complained", "failed", "suppressed", "canceled",
]  # fmt: skip


def luminance(rgb: str) -> float:
    red, green, blue = (int(part) / 255 for part in re.findall(r"\d+", rgb)[:3])

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(one: str, two: str) -> float:
    light, dark = sorted((luminance(one), luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def badges(page: Page) -> list[dict[str, Any]]:
    drawn: list[dict[str, Any]] = page.evaluate(
        """async (statuses) => {
             const { badge } = await import("./static/format.js");
             const shelf = document.createElement("div");
             document.body.append(shelf);
             const out = statuses.map((status) => {
               const b = badge(status);
               shelf.append(b);
               const style = getComputedStyle(b);
               const shape = b.querySelector(".badge-shape");
               return { status, shape: shape.textContent, hidden: shape.getAttribute("aria-hidden"),
                        word: b.lastChild.textContent, background: style.backgroundColor, color: style.color };
             });
             shelf.remove();
             return out;
           }""",
        STATUSES,
    )
    return drawn


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_status_has_its_own_word_shape_and_colour(page: Page, page_stack: PageStack, scheme: str) -> None:
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    page.goto(page_stack.url(token(new_domain())))
    expect(page.get_by_role("table")).to_be_visible()
    drawn = badges(page)
    assert [b["word"] for b in drawn] == STATUSES
    # The shape is decoration (the word says it): hidden from screen readers
    assert {b["hidden"] for b in drawn} == {"true"}
    assert len({b["shape"] for b in drawn}) == len(STATUSES), [b["shape"] for b in drawn]
    assert len({(b["background"], b["color"]) for b in drawn}) == len(STATUSES)
    for b in drawn:
        assert contrast(b["background"], b["color"]) >= 4.5, b
    by = {b["status"]: b for b in drawn}
    # The three that used to look alike
    for one, two in [("bounced", "failed"), ("bounced", "complained"), ("failed", "complained")]:
        assert by[one]["shape"] != by[two]["shape"]
        assert by[one]["background"] != by[two]["background"]
    # Every status can be chosen in the Status filter
    options = page.get_by_role("combobox", name="Status").locator("option").all_inner_texts()
    assert options == ["Any status", *STATUSES]
