"""Bulk sends as the page shows them (issue #31, item 1; contract section 8,
`Bulk sends`; docs/page.md, "Bulk sends"): the domain's bulk sends with their
progress by status, live while they drain; Cancel remaining on one that still
has emails to send; a link from each bulk send to its emails in the log and
from each of its emails back to it; and the Bulk Send dialog's Send at and
Send test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import PageStack, axe_violations, new_domain, screenshot, token
from tests.browser.test_page_bulk import dialog_for_one_row

BERLIN = ZoneInfo("Europe/Berlin")  # the browser's time zone (conftest.open_context)


def bulk_send(
    stack: PageStack, tok: str, domain: str, recipients: list[str], subject: str, **extra: Any
) -> dict[str, Any]:
    answer = stack.call(
        "POST",
        "/jobs/bulk",
        tok,
        json={
            "domain": domain,
            "extra_recipients": " ".join(recipients),
            "subject": subject,
            "body": "Hello.",
            **extra,
        },
    )
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    return result


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def bulk_row(page: Page, subject: str) -> Locator:
    return page.get_by_role("table", name=re.compile("^Bulk sends")).get_by_role("row").filter(has_text=subject)


def test_bulk_sends_show_progress_live_and_cancel_remaining_stops_what_is_left(
    page: Page, page_stack: PageStack
) -> None:
    domain = new_domain()
    tok = token(domain)
    # Scheduled for tomorrow: its two emails wait, and can still be canceled
    later = bulk_send(
        page_stack,
        tok,
        domain,
        ["sid@example.org", "sue@example.org"],
        "Next week's news",
        send_at=rfc3339(datetime.now(UTC) + timedelta(days=1)),
    )
    assert later["queued"] == 2
    page.goto(f"{page_stack.api}/?view=bulks&domain={domain}#token={tok}")
    table = page.get_by_role("table", name=re.compile("^Bulk sends"))
    for header in ("Created", "Subject", "Recipients", "Progress"):
        expect(table.get_by_role("columnheader", name=header, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Bulk sends")).to_have_attribute("aria-current", "page")
    waiting = bulk_row(page, "Next week's news")
    expect(waiting.get_by_role("cell").nth(2)).to_have_text("2")
    expect(waiting).to_contain_text("0 of 2 past sending (0%)")
    expect(waiting).to_contain_text("2 scheduled")
    expect(waiting).to_contain_text("Scheduled for")
    expect(waiting.get_by_role("progressbar")).to_have_attribute("value", "0")

    # A bulk send queued meanwhile appears, and its progress follows it as it drains
    now = bulk_send(page_stack, tok, domain, ["ann@example.org", "ben@example.org", "cat@example.org"], "Opening hours")
    drained = bulk_row(page, "Opening hours")
    expect(drained).to_contain_text("3 of 3 past sending (100%)", timeout=30_000)
    expect(drained.get_by_role("progressbar")).to_have_attribute("value", "3")
    expect(drained).to_contain_text(re.compile(r"3 (sent|delivered)"), timeout=30_000)
    # Nothing left to cancel there
    expect(drained.get_by_role("button", name="Cancel remaining")).to_have_count(0)
    # Newest first
    expect(table.get_by_role("row").nth(1)).to_contain_text("Opening hours")
    screenshot(page, "bulks")
    assert axe_violations(page) == []

    # Cancel remaining: the two scheduled emails are canceled, and never sent
    waiting.get_by_role("button", name="Cancel remaining").click()
    expect(waiting.get_by_role("status")).to_contain_text("2 emails of “Next week's news” canceled")
    expect(waiting).to_contain_text("2 canceled")
    expect(waiting).to_contain_text("the rest was canceled")
    expect(waiting.get_by_role("button", name="Cancel remaining")).to_have_count(0)
    # The keyboard stays in the row
    expect(waiting.get_by_role("link", name="Show its emails")).to_be_focused()
    progress = page_stack.get(f"/bulks/{later['bulk_id']}", tok).json()
    assert progress["counts"]["canceled"] == 2 and progress["counts"]["scheduled"] == 0, progress
    assert axe_violations(page) == []

    # From the bulk send to its emails: the log filtered by bulk_id
    drained.get_by_role("link", name="Show its emails").click()
    expect(page).to_have_url(re.compile(rf"\?domain={re.escape(domain)}&bulk={now['bulk_id']}$"))
    rows = page.locator("#log-body tr.job")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text="Next week's news")).to_have_count(0)
    # From one of its emails back to the bulk send
    rows.first.locator("td.subject").click()
    page.locator("tr.detail").get_by_role("link", name="Progress of this bulk send").click()
    expect(page).to_have_url(re.compile(rf"view=bulks&domain={re.escape(domain)}&bulk={now['bulk_id']}$"))
    expect(table.get_by_role("row")).to_have_count(2)  # the header and that bulk send alone
    expect(table).to_contain_text("Opening hours")
    # Back to the email, and Forward again
    page.go_back()
    expect(page.locator("tr.detail")).to_have_count(1)
    page.go_forward()
    expect(table.get_by_role("row")).to_have_count(2)
    page.get_by_role("button", name="Show every bulk send").click()
    expect(table.get_by_role("row")).to_have_count(3)


def test_send_at_schedules_the_bulk_send_and_send_test_sends_one_email_first(page: Page, page_stack: PageStack) -> None:
    dialog = dialog_for_one_row(page, page_stack, "row@example.org", "A row")
    domain = page.get_by_role("combobox", name="Domain").input_value()
    tok = token(domain)
    dialog.get_by_label("Subject").fill("Our summer sale")
    dialog.get_by_label("Email Body").fill("Everything half price.")

    # Send test: one email to that address alone, at once; nothing else is queued
    dialog.get_by_label("Test address").fill("me@example.org")
    dialog.get_by_role("button", name="Send test").click()
    expect(dialog.locator("#bulk-test-result")).to_contain_text("Test email to me@example.org", timeout=5_000)
    expect(dialog.locator("#bulk-test-result")).to_contain_text(re.compile("accepted by SES|delivered"), timeout=30_000)
    tests = page_stack.get(f"/jobs?domain={domain}&recipient=me@example.org", tok).json()["items"]
    assert [(job["type"], job["bulk_id"], job["subject"]) for job in tests] == [("manual", None, "Our summer sale")]
    assert len(page_stack.get(f"/jobs?domain={domain}", tok).json()["items"]) == 2

    # Send at: the bulk send waits for that time (the browser's time zone)
    at = (datetime.now(BERLIN) + timedelta(days=2)).replace(second=0, microsecond=0)
    dialog.get_by_label("Send at").fill(at.strftime("%Y-%m-%dT%H:%M"))
    assert axe_violations(page) == []
    dialog.get_by_role("button", name="Queue Emails").click()
    expect(dialog).to_contain_text("Queued 1 email, to be sent at")
    dialog.get_by_role("button", name="Close").click()
    scheduled = page.locator("#log-body tr.job").filter(has_text="Our summer sale").filter(has_text="row@example.org")
    expect(scheduled.locator(".badge")).to_have_text(re.compile("scheduled$"))
    [job] = page_stack.get(f"/jobs?domain={domain}&recipient=row@example.org&type=manual", tok).json()["items"]
    assert job["status"] == "scheduled"
    assert datetime.fromisoformat(job["send_at"]) == at, job


def test_send_at_further_than_30_days_is_refused_before_anything_is_queued(page: Page, page_stack: PageStack) -> None:
    dialog = dialog_for_one_row(page, page_stack, "far@example.org", "Far")
    dialog.get_by_label("Subject").fill("Too far ahead")
    dialog.get_by_label("Email Body").fill("Hello.")
    far = datetime.now(BERLIN) + timedelta(days=31)
    dialog.get_by_label("Send at").fill(far.strftime("%Y-%m-%dT%H:%M"))
    dialog.get_by_role("button", name="Queue Emails").click()
    expect(dialog.get_by_role("alert")).to_have_text("Send at is at most 30 days ahead.")
    expect(dialog.get_by_label("Send at")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#log-body tr.job")).to_have_count(1)


def test_a_bulk_send_of_another_domain_is_not_shown(page: Page, page_stack: PageStack) -> None:
    mine, theirs = new_domain(), new_domain("other")
    other = bulk_send(page_stack, token(theirs), theirs, ["x@example.org"], "Not yours")
    page.goto(f"{page_stack.api}/?view=bulks&domain={mine}&bulk={other['bulk_id']}#token={token(mine)}")
    expect(page.locator("#bulks-state")).to_have_text(f"No bulk send {other['bulk_id']} among {mine}'s.")
    expect(page.get_by_text("Not yours")).to_have_count(0)
