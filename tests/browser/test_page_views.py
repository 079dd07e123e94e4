"""The page's views in the address (issue #31, item 6; contract section 8;
docs/page.md, "The address"): Log, Bulk sends, Statistics, Activity and
Suppressions are each an address of their own, the browser's Back and
Forward move between them, and a reload shows the same view."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, expect

from tests.browser.conftest import PageStack, email, new_domain, token

VIEWS = {"Bulk sends": "bulks", "Statistics": "stats", "Activity": "activity", "Suppressions": "suppressions"}
SECTIONS = {
    "log": "#log-view",
    "bulks": "#bulks-view",
    "stats": "#stats-view",
    "activity": "#activity-view",
    "suppressions": "#suppressions-view",
}


def query(page: Page) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(page.url).query).items()}


def shows(page: Page, view: str) -> None:
    for name, section in SECTIONS.items():
        if name == view:
            expect(page.locator(section)).to_be_visible()
        else:
            expect(page.locator(section)).to_be_hidden()


def test_each_view_is_an_address_and_back_and_forward_move_between_them(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    tok = token(domain)
    page_stack.enqueue(email(domain, "ann@example.org", "Hello"))
    page.goto(page_stack.url(tok))
    page.get_by_role("combobox", name="Domain").select_option(domain)
    expect(page.locator("#log-body tr.job")).to_have_count(1)
    shows(page, "log")

    visited = []
    for link, view in VIEWS.items():
        page.get_by_role("navigation", name="Views").get_by_role("link", name=link).click()
        expect(page).to_have_url(re.compile(rf"\?view={view}&domain={re.escape(domain)}$"))
        shows(page, view)
        expect(page.get_by_role("link", name=link)).to_have_attribute("aria-current", "page")
        visited.append(view)

    # A reload shows the same view
    page.reload()
    shows(page, "suppressions")
    expect(page.get_by_role("combobox", name="Domain")).to_have_value(domain)

    # Back through every view to the log, and Forward again
    for view in reversed(["log", *visited[:-1]]):
        page.go_back()
        shows(page, view)
        assert query(page).get("view", "log") == view
    page.go_forward()
    shows(page, "bulks")
    page.go_forward()
    shows(page, "stats")

    # A domain chosen in a view keeps the view
    page.get_by_role("combobox", name="Domain").select_option("")
    expect(page).to_have_url(re.compile(r"\?view=stats$"))
    shows(page, "stats")
    page.get_by_role("navigation", name="Views").get_by_role("link", name="Log").click()
    shows(page, "log")
    assert query(page) == {}
