"""The page on a phone, 390 pixels wide (issue #31, item 4; docs/page.md,
"On a phone"): no horizontal scroll, every row's Status on screen, the opened
email readable, every button reachable, the log's rows still rows to a screen
reader, and axe-core clean on each view (Bulk sends, Statistics and Activity
too) and dialog."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import (
    PHONE,
    PageStack,
    accessibility_roles,
    axe_violations,
    email,
    new_domain,
    no_horizontal_scroll,
    screenshot,
    token,
)

LONG = "a-very-long-local-part-that-has-no-place-to-break@an-equally-long-subdomain.example.org"
NEWSLETTER = (
    "<table width='600' style='width:600px;font-family:sans-serif'><tr><td>"
    "<h1>Our spring newsletter</h1><p>Hello Maria, a long paragraph that an admin wants to read on a phone without "
    "scrolling sideways, with a link to <a href='http://example.org/spring'>the spring collection</a>.</p>"
    "<img src='data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==' width='600' "
    "height='40' alt='a banner'></td></tr></table>"
)


def inside_the_screen(locator: Locator) -> None:
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box is not None, locator
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5, (locator, box)


def test_the_log_on_a_phone(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    tok = token(domain)
    ids = page_stack.enqueue(
        email(domain, LONG, "A subject long enough to wrap over several lines on a narrow screen, and then some more"),
        email(domain, "bounce@simulator.amazonses.com", "Will bounce"),
        email(domain, "maria@example.org", "Our spring newsletter", body_text="Hello Maria.", body_html=NEWSLETTER),
        {**email(domain, "owner@example.org", "A visitor rang the bell"), "type": "escalation"},
    )
    page_stack.wait_for_status(ids[1], tok, {"bounced"})
    page.set_viewport_size(PHONE)
    page.goto(page_stack.url(tok))
    page.get_by_role("combobox", name="Domain").select_option(domain)
    rows = page.locator("#log-body tr.job")
    expect(rows).to_have_count(4)
    no_horizontal_scroll(page)

    # Rows stay rows to a screen reader (Chromium's own accessibility tree), headers included
    roles = accessibility_roles(page)
    assert roles.count("row") == 4 + 1
    assert roles.count("columnheader") == 9
    assert page.get_by_role("table").get_by_role("row").count() == 5

    # Every row's Status on screen
    for index in range(4):
        badge = rows.nth(index).locator("td.status .badge")
        expect(badge).to_be_visible()
        inside_the_screen(badge)
    expect(rows.nth(2).locator("td.status")).to_contain_text("bounced")
    screenshot(page, "phone-log")
    assert axe_violations(page) == []

    # The opened email, readable: its facts, its text, its HTML within the screen
    newsletter = page.locator(f"#log-body tr.job[data-job-id='{ids[2]}']")
    newsletter.locator("td.subject").click()
    detail = page.locator(f"#detail-{ids[2]}")
    expect(detail.locator("pre")).to_have_text("Hello Maria.")
    frame = page.frame_locator(f"#detail-{ids[2]} iframe")
    expect(frame.get_by_role("heading", name="Our spring newsletter")).to_be_visible()
    inside_the_screen(detail.locator("iframe"))
    inside_the_screen(detail.locator("pre"))
    [document] = [each for each in page.frames if each.url == "about:srcdoc"]
    widths = document.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], widths  # the email reflows inside its frame too
    no_horizontal_scroll(page)
    assert accessibility_roles(page).count("row") == 4 + 1 + 1  # the opened email's row
    screenshot(page, "phone-email")
    assert axe_violations(page) == []

    # Every button reachable: on screen once scrolled to, none off to the side
    buttons = page.get_by_role("button")
    assert buttons.count() >= 4 + 3 + 2  # the rows' arrows, Sign out, Search, Bulk Send, the email's copy buttons
    for index in range(buttons.count()):
        if buttons.nth(index).is_visible():
            inside_the_screen(buttons.nth(index))

    # The bounced email: the notice and its link fit too
    page.locator(f"#log-body tr.job[data-job-id='{ids[1]}']").get_by_role("button", name="Show body").click()
    notice = page.locator(f"#detail-{ids[1]}").get_by_role("note")
    expect(notice).to_contain_text("Retry is not offered")
    inside_the_screen(notice)
    no_horizontal_scroll(page)


def test_bulk_send_and_suppressions_on_a_phone(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    tok = token(domain)
    page_stack.enqueue(email(domain, LONG, "Long"), email(domain, "ann@example.org", "Short"))
    assert page_stack.call("PUT", f"/suppressions/{domain}/{quote(LONG)}", tok).status_code == 200
    page.set_viewport_size(PHONE)
    page.goto(page_stack.url(tok))
    page.get_by_role("combobox", name="Domain").select_option(domain)
    rows = page.locator("#log-body tr.job")
    expect(rows).to_have_count(2)
    rows.nth(0).get_by_role("checkbox", name=re.compile("^Select")).check()
    page.get_by_role("button", name="Bulk Send").click()
    dialog = page.get_by_role("dialog", name="Bulk Send")
    dialog.get_by_label("Subject").fill("From the phone")
    for control in ("Subject", "Email Body", "Additional recipients", "Send at", "Test address"):
        inside_the_screen(dialog.get_by_label(control))
    for name in ("Send test", "Queue Emails", "Close"):
        inside_the_screen(dialog.get_by_role("button", name=name))
    no_horizontal_scroll(page)
    screenshot(page, "phone-bulk")
    assert axe_violations(page) == []
    dialog.get_by_role("button", name="Close").click()

    page.get_by_role("link", name="Suppressions").click()
    entry = page.locator("#suppressions-body tr")
    expect(entry).to_have_count(1)
    no_horizontal_scroll(page)
    inside_the_screen(entry.get_by_role("button", name="Remove"))
    assert axe_violations(page) == []
    entry.get_by_role("button", name="Remove").click()
    confirm = page.get_by_role("dialog", name="Remove suppression")
    for name in ("Keep", "Remove"):
        inside_the_screen(confirm.get_by_role("button", name=name))
    no_horizontal_scroll(page)
    screenshot(page, "phone-remove")
    assert axe_violations(page) == []
    confirm.get_by_role("button", name="Keep").click()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("textbox", name="Token")).to_be_visible()
    no_horizontal_scroll(page)
    assert axe_violations(page) == []


def test_bulk_sends_statistics_and_activity_on_a_phone(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    tok = token(domain)
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds").replace("+00:00", "Z")
    answer = page_stack.call(
        "POST",
        "/jobs/bulk",
        tok,
        json={
            "domain": domain,
            "extra_recipients": f"{LONG} ann@example.org",
            "subject": "A subject long enough to wrap over several lines on a narrow screen",
            "body": "Hello.",
            "send_at": later,
        },
    )
    assert answer.status_code == 202, answer.text
    page.set_viewport_size(PHONE)
    page.goto(f"{page_stack.api}/?view=bulks&domain={domain}#token={tok}")

    # Bulk sends: the card, its progress and Cancel remaining within the screen
    bulk = page.locator("#bulks-body tr")
    expect(bulk).to_have_count(1)
    expect(bulk).to_contain_text("0 of 2 past sending")
    no_horizontal_scroll(page)
    for part in (
        bulk.get_by_role("progressbar"),
        bulk.get_by_role("button", name="Cancel remaining"),
        bulk.get_by_role("link"),
    ):
        inside_the_screen(part)
    inside_the_screen(page.get_by_role("region", name="Domain health"))
    screenshot(page, "phone-bulks")
    assert axe_violations(page) == []

    # Statistics: the chart fits the screen, and so does the table
    page.get_by_role("link", name="Statistics").click()
    chart = page.get_by_role("img", name="Emails per day")
    expect(chart).to_be_visible()
    inside_the_screen(chart)
    expect(page.locator("#stats-days-body tr")).to_have_count(30)
    no_horizontal_scroll(page)
    screenshot(page, "phone-stats")
    assert axe_violations(page) == []

    # Activity
    page.get_by_role("link", name="Activity").click()
    expect(page.locator("#activity-body tr")).to_have_count(1)
    no_horizontal_scroll(page)
    inside_the_screen(page.locator("#activity-body tr").get_by_role("link"))
    screenshot(page, "phone-activity")
    assert axe_violations(page) == []
