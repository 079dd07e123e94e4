"""Bulk Send in a real browser: the button, the dialog, what it reports, the
progress bar, and the same with the keyboard alone (docs/page.md)."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import PageStack, axe_violations, email, new_domain, screenshot, token


def open_log(page: Page, stack: PageStack, domain: str, rows: int) -> None:
    page.goto(stack.url(token(domain)))
    page.get_by_role("combobox", name="Domain").select_option(domain)
    expect(page.locator("#log-body tr.job")).to_have_count(rows)


def dialog_for_one_row(page: Page, stack: PageStack, recipient: str, subject: str) -> Locator:
    """A new domain with one email, its row selected, and the Bulk Send dialog opened."""
    domain = new_domain()
    stack.enqueue(email(domain, recipient, subject))
    open_log(page, stack, domain, 1)
    page.locator("#log-body tr.job").first.get_by_role("checkbox", name=re.compile("^Select")).check()
    page.get_by_role("button", name="Bulk Send").click()
    return page.get_by_role("dialog", name="Bulk Send")


def test_bulk_send_is_usable_once_a_domain_is_chosen_and_a_row_selected(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    page_stack.enqueue(
        email(domain, "ann@example.org", "Hello Ann"),
        email(domain, "ben@example.org", "Hello Ben"),
        email(domain, "ann@example.org", "Ann again"),
    )
    page.goto(page_stack.url(token(domain)))
    rows = page.locator("#log-body tr.job")
    expect(rows).to_have_count(3)
    bulk = page.get_by_role("button", name="Bulk Send")
    # A row alone is not enough: no domain chosen yet
    rows.nth(0).get_by_role("checkbox", name=re.compile("^Select")).check()
    expect(bulk).to_be_disabled()
    page.get_by_role("combobox", name="Domain").select_option(domain)
    expect(rows).to_have_count(3)
    # A domain alone is not enough either (choosing it cleared the selection)
    expect(bulk).to_be_disabled()
    for i in range(3):
        rows.nth(i).get_by_role("checkbox", name=re.compile("^Select")).check()
    expect(bulk).to_be_enabled()
    bulk.click()

    dialog = page.get_by_role("dialog", name="Bulk Send")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(domain)
    # Two selected rows are Ann's: two recipients
    expect(dialog).to_contain_text("2 recipients (3 selected), 1 duplicate removed")
    dialog.get_by_label("Additional recipients").fill("cat@example.org, BEN@example.org;\nnot-an-address")
    expect(dialog).to_contain_text("4 recipients (3 selected, 3 typed), 2 duplicates removed")
    dialog.get_by_label("Subject").fill("Our opening hours change")
    dialog.get_by_label("Email Body").fill("From Monday we open at 9.")
    screenshot(page, "bulk-dialog")
    assert axe_violations(page) == []
    dialog.get_by_role("button", name="Queue Emails").click()

    expect(dialog).to_contain_text("Queued 3 emails.")
    expect(dialog).to_contain_text("2 duplicates removed.")
    rejected = dialog.locator("ul.rejected li")
    expect(rejected).to_have_count(1)
    expect(rejected.first).to_contain_text("not-an-address")
    progress = dialog.get_by_role("progressbar")
    expect(progress).to_have_attribute("max", "3")
    expect(progress).to_have_attribute("value", "3", timeout=30_000)
    expect(dialog).to_contain_text("3 of 3 past sending (100%)")
    screenshot(page, "bulk-queued")
    assert axe_violations(page) == []
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    # The new jobs are in the log
    expect(rows).to_have_count(6)
    expect(page.locator("#log-body tr.job", has_text="Our opening hours change")).to_have_count(3)
    expect(page.locator("#log-body tr.job", has_text="cat@example.org")).to_have_count(1)


def test_the_dialog_refuses_a_missing_subject_and_reports_the_apis_errors(page: Page, page_stack: PageStack) -> None:
    dialog = dialog_for_one_row(page, page_stack, "solo@example.org", "Solo")
    dialog.get_by_role("button", name="Queue Emails").click()
    expect(dialog.get_by_role("alert")).to_have_text("Write a subject.")
    expect(dialog.get_by_label("Subject")).to_be_focused()
    expect(dialog.get_by_label("Subject")).to_have_attribute("aria-invalid", "true")
    # The API's answer, as it says it: 1,001 recipients are over the limit
    dialog.get_by_label("Subject").fill("Too many")
    dialog.get_by_label("Email Body").fill("Hello")
    dialog.get_by_label("Additional recipients").fill(" ".join(f"m{i}@example.org" for i in range(1001)))
    dialog.get_by_role("button", name="Queue Emails").click()
    expect(dialog.get_by_role("alert")).to_contain_text("1000")
    # Nothing was queued
    expect(page.locator("#log-body tr.job")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_rejected_inputs_carrying_markup_are_shown_as_text(page: Page, page_stack: PageStack, watch) -> None:
    dialog = dialog_for_one_row(page, page_stack, "row@example.org", "Row")
    payload = "<img/src=x/onerror=window.__pwned=1>"
    dialog.get_by_label("Additional recipients").fill(payload)
    dialog.get_by_label("Subject").fill("<script>window.__pwned=1</script>")
    dialog.get_by_label("Email Body").fill("<b onmouseover=window.__pwned=1>hi</b>")
    dialog.get_by_role("button", name="Queue Emails").click()
    expect(dialog).to_contain_text("Queued 1 email.")
    expect(dialog.locator("ul.rejected code").first).to_have_text(payload)
    dialog.get_by_role("button", name="Close").click()
    row = page.locator("#log-body tr.job", has_text="<script>window.__pwned=1</script>")
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Show body").click()
    expect(page.locator("tr.detail pre")).to_have_text("<b onmouseover=window.__pwned=1>hi</b>")
    page.locator("tr.detail pre").hover()
    assert page.evaluate("window.__pwned") is None
    assert watch.dialogs == []


def test_more_refusals_than_the_answer_lists_are_counted_in_full(page: Page, page_stack: PageStack) -> None:
    dialog = dialog_for_one_row(page, page_stack, "row@example.org", "Row")
    # 130 typed-in words that are not addresses: the answer lists the first 100
    dialog.get_by_label("Additional recipients").fill(" ".join(f"not-an-address-{i}" for i in range(130)))
    dialog.get_by_label("Subject").fill("Hello")
    dialog.get_by_label("Email Body").fill("Hi.")
    dialog.get_by_role("button", name="Queue Emails").click()
    expect(dialog).to_contain_text("Queued 1 email.")
    expect(dialog.get_by_role("heading", name="Not queued (130)")).to_be_visible()
    expect(dialog.locator("ul.rejected li")).to_have_count(100)
    expect(dialog).to_contain_text("The first 100 of 130 are listed.")


def focused(page: Page) -> str:
    return str(
        page.evaluate(
            """() => {
              const el = document.activeElement;
              if (!el) return "";
              return (el.getAttribute("aria-label") || el.labels?.[0]?.textContent || el.textContent || "").trim();
            }"""
        )
    )


def tab_to(page: Page, name: str, *, limit: int = 40, backwards: bool = False) -> None:
    for _ in range(limit):
        if focused(page) == name or focused(page).startswith(name):
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"Tab never reached {name!r} (at {focused(page)!r})")


def test_a_bulk_send_with_the_keyboard_alone(page: Page, page_stack: PageStack) -> None:
    domain, other = sorted([new_domain("key"), new_domain("zzz")])
    page_stack.enqueue(email(domain, "kim@example.org", "For Kim"), email(other, "lee@example.org", "For Lee"))
    page.goto(page_stack.url(token(domain, other)))
    expect(page.locator("#log-body tr.job")).to_have_count(2)
    # Choose the domain: the first option after "All my domains"
    tab_to(page, "Domain")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("combobox", name="Domain")).to_have_value(domain)
    expect(page.locator("#log-body tr.job")).to_have_count(1)
    tab_to(page, "Select kim@example.org")
    page.keyboard.press("Space")
    expect(page.get_by_role("checkbox", name="Select kim@example.org")).to_be_checked()
    tab_to(page, "Bulk Send", backwards=True)
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Bulk Send")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Subject")).to_be_focused()
    page.keyboard.type("Typed with keys")
    page.keyboard.press("Tab")
    page.keyboard.type("Line one")
    page.keyboard.press("Enter")
    page.keyboard.type("Line two")
    page.keyboard.press("Tab")
    page.keyboard.type("max@example.org")
    tab_to(page, "Queue Emails")
    page.keyboard.press("Enter")
    expect(dialog).to_contain_text("Queued 2 emails.")
    # The keyboard is not dropped on the page: Queue Emails is done with, Close is next
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    screenshot(page, "bulk-keyboard")
    # Escape closes it; the new jobs are in the log
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#log-body tr.job", has_text="Typed with keys")).to_have_count(2)
    job = page.locator("#log-body tr.job", has_text="max@example.org")
    job.get_by_role("button", name="Show body").focus()
    page.keyboard.press("Enter")
    expect(page.locator("tr.detail pre")).to_have_text("Line one\nLine two")


def test_a_bulk_of_1000_reaches_100_percent(page: Page, page_stack: PageStack) -> None:
    domain = new_domain("big")
    page_stack.enqueue(email(domain, "first@example.org", "The first"))
    open_log(page, page_stack, domain, 1)
    page.locator("#log-body tr.job").first.get_by_role("checkbox", name=re.compile("^Select")).check()
    page.get_by_role("button", name="Bulk Send").click()
    dialog = page.get_by_role("dialog", name="Bulk Send")
    dialog.get_by_label("Additional recipients").fill("\n".join(f"reader{i}@example.org" for i in range(999)))
    expect(dialog).to_contain_text("1000 recipients")
    dialog.get_by_label("Subject").fill("A thousand")
    dialog.get_by_label("Email Body").fill("To each of you.")
    dialog.get_by_role("button", name="Queue Emails").click()
    expect(dialog).to_contain_text("Queued 1000 emails.", timeout=60_000)
    progress = dialog.get_by_role("progressbar")
    expect(progress).to_have_attribute("max", "1000")
    screenshot(page, "bulk-1000-draining")
    # About a minute on a quiet machine (docs/benchmarks.md: ~20 emails/s); far longer on a busy one
    expect(progress).to_have_attribute("value", "1000", timeout=600_000)
    expect(dialog).to_contain_text("1000 of 1000 past sending (100%)")
    screenshot(page, "bulk-1000-done")
