"""The README's pictures of the page (``make screenshot`` copies them to
docs/): the log of acme.com (docs/page.png), one email opened
(docs/page-email.png), the page on a phone (docs/page-phone.png), Bulk sends
(docs/page-bulks.png) and Statistics (docs/page-stats.png)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from tests.browser.conftest import OUTPUT, PHONE, PageStack, screenshot, token

DOMAIN = "acme.com"
SUMMARY_HTML = (
    "<div style='font-family:sans-serif;max-width:520px'>"
    "<h2 style='color:#1d4ed8'>Your conversation with Acme</h2>"
    "<p>Hi Maria, thanks for chatting with us today. Here is what we covered:</p>"
    "<ul><li>Opening hours on public holidays</li><li>Delivery to Portugal</li></ul>"
    "<p>Reply to this email if anything is unclear, or <a href='https://acme.example/help'>visit our help "
    "pages</a>.</p></div>"
)
EMAILS = [
    {
        "type": "ai_followup",
        "to": "maria@example.org",
        "subject": "Your conversation summary",
        "body_text": "Hi Maria, thanks for chatting with us today.",
        "body_html": SUMMARY_HTML,
    },
    {
        "type": "invitation",
        "to": "sam@acme.com",
        "subject": "You are invited to collaborate on acme.com",
        "body_text": "Join the acme.com workspace.",
    },
    {
        "type": "visitor_capture",
        "to": "bounce@simulator.amazonses.com",
        "subject": "Thanks for your interest in Acme",
        "body_text": "We will be in touch.",
    },
    {
        "type": "ai_followup",
        "to": "complaint@simulator.amazonses.com",
        "subject": "Your conversation summary",
        "body_text": "Thanks for chatting with us.",
    },
    {
        "type": "escalation",
        "to": "owner@acme.com",
        "subject": "A visitor rang the bell",
        "body_text": "Someone is waiting in the chat.",
    },
]


def test_the_readme_screenshots(page: Page, page_stack: PageStack) -> None:
    page_stack.enqueue(*[{**message, "domain": DOMAIN} for message in EMAILS])
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(page_stack.url(token(DOMAIN, "beta.io")))
    page.get_by_role("combobox", name="Domain").select_option(DOMAIN)
    rows = page.locator("#log-body tr.job")
    expect(rows).to_have_count(5)
    # SES's reports are in: delivered, bounced, complained
    for status in ("bounced", "complained"):
        expect(rows.locator(".badge", has_text=status)).to_have_count(1, timeout=30_000)
    expect(rows.locator(".badge", has_text=re.compile("queued|sending|sent$"))).to_have_count(0, timeout=30_000)
    rows.nth(0).get_by_role("checkbox").check()
    rows.nth(3).get_by_role("checkbox").check()
    page.mouse.move(0, 0)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "page.png"))

    # One email opened: its facts, the HTML in its frame, the text, the timeline
    opened = rows.filter(has_text="maria@example.org")
    opened.locator("td.subject").click()
    expect(page.frame_locator("tr.detail iframe").get_by_role("heading")).to_be_visible()
    page.locator("tr.detail").scroll_into_view_if_needed()
    page.mouse.move(0, 0)
    page.screenshot(path=str(OUTPUT / "page-email.png"))

    # The same on a phone
    page.set_viewport_size(PHONE)
    page.goto(f"{page_stack.api}/?domain={DOMAIN}")
    expect(rows).to_have_count(5)
    page.screenshot(path=str(OUTPUT / "page-phone.png"))
    screenshot(page, "readme-phone-full")

    # Bulk sends: one drained, one waiting for its time (Cancel remaining)
    tok = token(DOMAIN, "beta.io")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    for subject, recipients, extra in (
        ("Our opening hours over the holidays", "ann@example.org ben@example.org cat@example.org dan@example.org", {}),
        (
            "The spring collection is here",
            "eve@example.org fay@example.org",
            {"send_at": tomorrow.isoformat().replace("+00:00", "Z")},
        ),
    ):
        answer = page_stack.call(
            "POST",
            "/jobs/bulk",
            tok,
            json={"domain": DOMAIN, "extra_recipients": recipients, "subject": subject, "body": "Hello.", **extra},
        )
        assert answer.status_code == 202, answer.text
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{page_stack.api}/?view=bulks&domain={DOMAIN}")
    bulks = page.locator("#bulks-body tr")
    expect(bulks).to_have_count(2)
    expect(bulks.filter(has_text="holidays")).to_contain_text("4 of 4 past sending (100%)", timeout=30_000)
    expect(bulks.filter(has_text="holidays")).to_contain_text("4 delivered", timeout=30_000)
    page.mouse.move(0, 0)
    page.screenshot(path=str(OUTPUT / "page-bulks.png"))

    # Statistics: today's emails of acme.com, the chart and its table
    page.get_by_role("link", name="Statistics").click()
    expect(page.get_by_role("img", name="Emails per day")).to_be_visible()
    page.mouse.move(0, 0)
    page.screenshot(path=str(OUTPUT / "page-stats.png"))
