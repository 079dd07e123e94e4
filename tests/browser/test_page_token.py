"""The token's expiry loses no work (issue #31, item 3; docs/page.md,
"Signing in"): a warning before it expires, then a field named Token, and
the Bulk Send dialog's draft (its fields and the selected rows) back as it
was after signing in again in the same tab."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import PageStack, axe_violations, email, new_domain, screenshot, token

SUBJECT = "Holiday opening hours"
BODY = "We are open from 10 to 16 on the 24th.\nSee you soon."
EXTRA = "typed@example.org, another@example.org"
TEST_TO = "me@example.org"


def draft_in_the_dialog(page: Page, stack: PageStack, tok: str, domain: str) -> Locator:
    page.goto(stack.url(tok))
    page.get_by_role("combobox", name="Domain").select_option(domain)
    rows = page.locator("#log-body tr.job")
    expect(rows).to_have_count(3)
    rows.nth(0).get_by_role("checkbox", name=re.compile("^Select")).check()
    rows.nth(2).get_by_role("checkbox", name=re.compile("^Select")).check()
    page.get_by_role("button", name="Bulk Send").click()
    dialog = page.get_by_role("dialog", name="Bulk Send")
    dialog.get_by_label("Subject").fill(SUBJECT)
    dialog.get_by_label("Email Body").fill(BODY)
    dialog.get_by_label("Additional recipients").fill(EXTRA)
    dialog.get_by_label("Test address").fill(TEST_TO)
    expect(dialog).to_contain_text("4 recipients (2 selected, 2 typed)")
    return dialog


def three_jobs(stack: PageStack, domain: str) -> list[str]:
    return stack.enqueue(
        email(domain, "one@example.org", "One"),
        email(domain, "two@example.org", "Two"),
        email(domain, "three@example.org", "Three"),
    )


def sign_in_again(page: Page, *domains: str) -> None:
    field = page.get_by_role("textbox", name="Token")
    expect(field).to_be_visible()
    expect(field).to_be_focused()
    field.fill(token(*domains))
    page.get_by_role("button", name="Sign in").click()


def the_draft_is_back(page: Page) -> Locator:
    dialog = page.get_by_role("dialog", name="Bulk Send")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Subject")).to_have_value(SUBJECT)
    expect(dialog.get_by_label("Email Body")).to_have_value(BODY)
    expect(dialog.get_by_label("Additional recipients")).to_have_value(EXTRA)
    expect(dialog.get_by_label("Test address")).to_have_value(TEST_TO)
    expect(dialog).to_contain_text("4 recipients (2 selected, 2 typed)")
    return dialog


def test_a_token_about_to_expire_is_warned_of_and_its_expiry_keeps_the_draft(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    three_jobs(page_stack, domain)
    # 25 seconds left: inside the two minutes the page warns before
    dialog = draft_in_the_dialog(page, page_stack, token(domain, ttl_seconds=25), domain)
    warning = dialog.get_by_role("status").filter(has_text="Your token expires")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("nothing you have typed or selected is lost")
    screenshot(page, "token-expiring-dialog")
    assert axe_violations(page) == []

    # It expires: the page asks for a new token, the dialog's work kept in the tab
    expect(page.get_by_role("textbox", name="Token")).to_be_visible(timeout=40_000)
    expect(dialog).to_be_hidden()
    expect(page.get_by_text(f"Your Bulk Send draft for {domain} is kept")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('emailops.token')") is None
    screenshot(page, "token-expired")
    sign_in_again(page, domain)

    dialog = the_draft_is_back(page)
    expect(dialog.get_by_label("Subject")).to_be_focused()
    # The selected rows too: their recipients are queued
    dialog.get_by_role("button", name="Queue Emails").click()
    expect(dialog).to_contain_text("Queued 4 emails.")
    queued = page_stack.get(f"/jobs?domain={domain}&type=manual", token(domain)).json()["items"]
    assert sorted(job["recipient"] for job in queued) == sorted(
        ["one@example.org", "three@example.org", "typed@example.org", "another@example.org"]
    )
    # Queued: nothing of it is a draft any more
    assert page.evaluate("sessionStorage.getItem('emailops.draft')") is None


def test_a_token_refused_while_queueing_keeps_the_draft_and_the_selection(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    three_jobs(page_stack, domain)
    dialog = draft_in_the_dialog(page, page_stack, token(domain), domain)

    # The API refuses the token (revoked, or expired by the API's clock)
    def refused(route) -> None:
        route.fulfill(status=401, json={"error": {"code": "unauthorized", "message": "the token has expired"}})

    page.route("**/jobs/bulk", refused)
    dialog.get_by_role("button", name="Queue Emails").click()
    expect(page.get_by_text("Your token was refused or has expired. Sign in again.")).to_be_visible()
    page.unroute("**/jobs/bulk")
    sign_in_again(page, domain)
    the_draft_is_back(page)
    # Behind the dialog: the same rows checked
    page.get_by_role("button", name="Close").click()
    for index, checked in enumerate([True, False, True]):
        box = page.locator("#log-body tr.job").nth(index).get_by_role("checkbox", name=re.compile("^Select"))
        expect(box).to_be_checked(checked=checked)
    expect(page.get_by_text("2 rows selected.")).to_be_visible()
    # Closed by the admin: the fields go, the selection stays (until the domain changes)
    page.get_by_role("button", name="Bulk Send").click()
    expect(page.get_by_role("dialog", name="Bulk Send").get_by_label("Subject")).to_have_value("")


def test_the_draft_survives_a_reload_of_the_tab(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    three_jobs(page_stack, domain)
    dialog = draft_in_the_dialog(page, page_stack, token(domain), domain)
    dialog.get_by_label("Send at").fill("2031-03-04T09:30")
    page.reload()
    dialog = the_draft_is_back(page)
    expect(dialog.get_by_label("Send at")).to_have_value("2031-03-04T09:30")


def test_a_token_for_other_domains_gets_nothing_of_the_draft(page: Page, page_stack: PageStack) -> None:
    domain, other = new_domain(), new_domain("other")
    three_jobs(page_stack, domain)
    dialog = draft_in_the_dialog(page, page_stack, token(domain), domain)
    page.route("**/jobs/bulk", lambda route: route.fulfill(status=401, json={"error": {"code": "unauthorized"}}))
    dialog.get_by_role("button", name="Queue Emails").click()
    page.unroute("**/jobs/bulk")
    sign_in_again(page, other)
    expect(page.get_by_role("combobox", name="Domain")).to_have_value("")
    expect(page.get_by_role("dialog", name="Bulk Send")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('emailops.draft')") is None
    assert SUBJECT not in page.content()
    assert "one@example.org" not in page.content()


def test_sign_out_forgets_the_draft(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    three_jobs(page_stack, domain)
    dialog = draft_in_the_dialog(page, page_stack, token(domain), domain)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Sign out").click()
    assert page.evaluate("sessionStorage.getItem('emailops.draft')") is None
    sign_in_again(page, domain)
    expect(page.get_by_role("dialog", name="Bulk Send")).to_be_hidden()
    expect(page.get_by_role("button", name="Bulk Send")).to_be_disabled()
