"""The README's picture of the page (``make screenshot`` copies it to
docs/page.png): the log of acme.com with one email opened."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import OUTPUT, PageStack, screenshot, token

DOMAIN = "acme.com"
SUMMARY_HTML = (
    "<div style='font-family:sans-serif;max-width:520px'>"
    "<h2 style='color:#1d4ed8'>Your conversation with Acme</h2>"
    "<p>Hi Maria, thanks for chatting with us today. Here is what we covered:</p>"
    "<ul><li>Opening hours on public holidays</li><li>Delivery to Portugal</li></ul>"
    "<p>Reply to this email if anything is unclear.</p></div>"
)


def test_the_readme_screenshot(page: Page, page_stack: PageStack) -> None:
    page_stack.enqueue(
        {
            "type": "ai_followup",
            "domain": DOMAIN,
            "to": "maria@example.org",
            "subject": "Your conversation summary",
            "body_text": "Hi Maria, thanks for chatting with us today.",
            "body_html": SUMMARY_HTML,
        },
        {
            "type": "invitation",
            "domain": DOMAIN,
            "to": "sam@acme.com",
            "subject": "You are invited to collaborate on acme.com",
            "body_text": "Join the acme.com workspace.",
        },
        {
            "type": "visitor_capture",
            "domain": DOMAIN,
            "to": "lead@example.net",
            "subject": "Thanks for your interest in Acme",
            "body_text": "We will be in touch.",
        },
        {
            "type": "escalation",
            "domain": DOMAIN,
            "to": "owner@acme.com",
            "subject": "A visitor rang the bell",
            "body_text": "Someone is waiting in the chat.",
        },
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(page_stack.url(token(DOMAIN, "beta.io")))
    page.get_by_role("combobox", name="Domain").select_option(DOMAIN)
    rows = page.locator("#log-body tr.job")
    expect(rows).to_have_count(4)
    expect(rows.locator(".badge", has_text=re.compile("queued|sending"))).to_have_count(0, timeout=30_000)
    rows.nth(0).get_by_role("checkbox").check()
    rows.nth(1).get_by_role("checkbox").check()
    rows.last.get_by_role("button", name="Show body").click()
    expect(page.frame_locator("tr.detail iframe").get_by_role("heading")).to_be_visible()
    page.mouse.move(0, 0)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "page.png"))
    screenshot(page, "readme-full")
