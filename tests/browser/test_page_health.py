"""Domain health (issue #31, item 2; contract section 8, `Domain health`;
docs/page.md, "Domain health"): the chosen domain's bounce and complaint
rates of the last 24 hours beside their limits; a paused domain says so
before anything is written, and its Bulk Send dialog cannot queue while Send
test still sends."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    PageStack,
    Watch,
    axe_violations,
    email,
    new_domain,
    open_context,
    screenshot,
    start_page_stack,
    token,
)


@pytest.fixture(scope="module")
def judging_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageStack]:
    """A stack that judges a domain from its first email: one bounce in the
    last 24 hours is a bounce rate of 100%, over the 5% limit."""
    yield from start_page_stack(tmp_path_factory, "judging-stack", EMAILOPS_PARAM_PauseMinimumSends="1")


@pytest.fixture
def judged_page(browser: Browser, judging_stack: PageStack) -> Iterator[Page]:
    watch = Watch(allowed_origin=judging_stack.api)
    context = open_context(browser, judging_stack, watch)
    page = context.new_page()
    page.on("dialog", lambda dialog: (watch.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()
    assert watch.foreign() == [], "the page made a request off its own origin"
    assert watch.dialogs == [] and watch.errors == []


def test_a_paused_domain_says_so_before_anything_is_written_and_cannot_queue(
    judged_page: Page, judging_stack: PageStack
) -> None:
    page, stack = judged_page, judging_stack
    domain = new_domain("paused")
    tok = token(domain)
    [bounced] = stack.enqueue(email(domain, "bounce@simulator.amazonses.com", "Will bounce"))
    stack.wait_for_status(bounced, tok, {"bounced"})
    health = stack.get(f"/domains/{domain}/health", tok).json()
    assert health["paused"] is True, health

    page.goto(f"{stack.api}/?domain={domain}#token={tok}")
    region = page.get_by_role("region", name="Domain health")
    expect(region).to_be_visible()
    expect(region).to_contain_text(health["message"])
    expect(region).to_contain_text("Bounce rate 100% (limit 5%; 1 bounced)")
    expect(region).to_contain_text("Complaint rate 0% (limit 0.1%; 0 complained)")
    expect(page.locator("#selection-hint")).to_contain_text("Bulk Send opens for a test email only")

    # The dialog opens (for Send test) and says at once, before a word is typed, that it cannot queue
    page.locator("#log-body tr.job").first.get_by_role("checkbox", name=re.compile("^Select")).check()
    page.get_by_role("button", name="Bulk Send").click()
    dialog = page.get_by_role("dialog", name="Bulk Send")
    expect(dialog.get_by_role("alert")).to_contain_text(health["message"])
    expect(dialog.get_by_role("alert")).to_contain_text("Queue Emails is not possible")
    expect(dialog.get_by_label("Subject")).to_have_value("")
    queue = dialog.get_by_role("button", name="Queue Emails")
    expect(queue).to_be_disabled()
    screenshot(page, "paused-dialog")
    assert axe_violations(page) == []

    # Send test still works for a paused domain
    dialog.get_by_label("Subject").fill("Checking the template")
    dialog.get_by_label("Email Body").fill("Hello.")
    dialog.get_by_label("Test address").fill("me@example.org")
    dialog.get_by_role("button", name="Send test").click()
    expect(dialog.locator("#bulk-test-result")).to_contain_text(
        re.compile("Test email to me@example.org: (accepted by SES|delivered)"), timeout=30_000
    )
    expect(queue).to_be_disabled()
    dialog.get_by_role("button", name="Close").click()
    # Nothing but the test was queued
    jobs = stack.get(f"/jobs?domain={domain}&type=manual", tok).json()["items"]
    assert [job["recipient"] for job in jobs] == ["me@example.org"]


def test_a_healthy_domain_shows_its_rates_beside_the_limits(judged_page: Page, judging_stack: PageStack) -> None:
    page, stack = judged_page, judging_stack
    healthy, paused = new_domain("healthy"), new_domain("paused")
    tok = token(healthy, paused)
    [delivered] = stack.enqueue(email(healthy, "ann@example.org", "Fine"))
    [bounced] = stack.enqueue(email(paused, "bounce@simulator.amazonses.com", "Bounces"))
    stack.wait_for_status(delivered, tok, {"delivered"})
    stack.wait_for_status(bounced, tok, {"bounced"})

    page.goto(stack.url(tok))
    region = page.get_by_role("region", name="Domain health")
    # No domain chosen: nothing to judge
    expect(region).to_have_count(0)
    page.get_by_role("combobox", name="Domain").select_option(healthy)
    expect(region).to_contain_text(f"{healthy}, last 24 hours: 1 sent")
    expect(region).to_contain_text("Bounce rate 0% (limit 5%; 0 bounced)")
    expect(region).to_contain_text("Bulk sends allowed.")
    assert not re.search(r"\b(null|undefined)\b", region.inner_text()), region.inner_text()
    assert axe_violations(page) == []
    # Another domain chosen: the region follows it
    page.get_by_role("combobox", name="Domain").select_option(paused)
    expect(region).to_contain_text("are paused")
    expect(region).not_to_contain_text("Bulk sends allowed.")
    page.locator("#log-body tr.job").first.get_by_role("checkbox", name=re.compile("^Select")).check()
    page.get_by_role("button", name="Bulk Send").click()
    expect(page.get_by_role("dialog", name="Bulk Send").get_by_role("button", name="Queue Emails")).to_be_disabled()
    page.keyboard.press("Escape")
    # And back: the healthy domain's dialog queues
    page.get_by_role("combobox", name="Domain").select_option(healthy)
    expect(region).to_contain_text("Bulk sends allowed.")
    page.locator("#log-body tr.job").first.get_by_role("checkbox", name=re.compile("^Select")).check()
    page.get_by_role("button", name="Bulk Send").click()
    dialog = page.get_by_role("dialog", name="Bulk Send")
    expect(dialog.get_by_role("button", name="Queue Emails")).to_be_enabled()
    expect(dialog.locator("#bulk-paused")).to_be_hidden()
