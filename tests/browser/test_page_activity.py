"""Activity (issue #31; contract section 8, `Activity`; docs/page.md,
"Activity"): the chosen domain's audit trail, who did what and when, each
entry leading to what it changed."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import PageStack, axe_violations, new_domain, screenshot, token


def test_activity_lists_who_did_what_newest_first(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    tok = token(domain)
    bulk = page_stack.call(
        "POST",
        "/jobs/bulk",
        tok,
        json={"domain": domain, "extra_recipients": "ann@example.org", "subject": "Hello", "body": "Hi."},
    ).json()
    assert page_stack.call("PUT", f"/suppressions/{domain}/gone@example.org", tok).status_code == 200

    # One more, made on the page: a suppression removed
    page.goto(f"{page_stack.api}/?view=suppressions&domain={domain}#token={tok}")
    page.locator("#suppressions-body tr").get_by_role("button", name="Remove").click()
    page.get_by_role("dialog", name="Remove suppression").get_by_role("button", name="Remove").click()
    expect(page.locator("#suppressions-body tr")).to_have_count(0)

    page.get_by_role("link", name="Activity").click()
    expect(page).to_have_url(re.compile(rf"\?view=activity&domain={re.escape(domain)}$"))
    table = page.get_by_role("table", name=f"Activity in {domain}")
    for header in ("When", "Who", "Action", "Details"):
        expect(table.get_by_role("columnheader", name=header, exact=True)).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(3)
    actions = [text.strip() for text in rows.locator("td.action-cell").all_inner_texts()]
    assert actions == ["Suppression removed", "Address suppressed", "Bulk send"], actions
    # Who: the token's sub, marked as the admin signed in
    expect(rows.first.locator("td").nth(1)).to_have_text("local-admin (you)")
    expect(rows.first.locator("td").nth(3)).to_contain_text("gone@example.org")
    expect(rows.first.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    screenshot(page, "activity")
    assert axe_violations(page) == []

    # Each entry leads to what it changed: the bulk send
    rows.last.get_by_role("link", name=f"Bulk send {bulk['bulk_id']}").click()
    expect(page).to_have_url(re.compile(rf"view=bulks&domain={re.escape(domain)}&bulk={bulk['bulk_id']}$"))
    page.go_back()
    expect(rows).to_have_count(3)


def test_activity_needs_a_domain(page: Page, page_stack: PageStack) -> None:
    first, second = new_domain(), new_domain()
    page.goto(f"{page_stack.api}/?view=activity#token={token(first, second)}")
    expect(page.locator("#activity-state")).to_have_text("Choose a domain above to see who did what in it.")
    expect(page.get_by_role("table", name=re.compile("^Activity"))).to_be_hidden()
