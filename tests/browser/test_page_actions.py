"""Cancel and Retry in an opened row, and a domain's suppression list with
Remove (docs/page.md). They call POST /jobs/{job_id}/cancel, POST
/jobs/{job_id}/retry, GET /suppressions and PUT/DELETE
/suppressions/{domain}/{email} (docs/api.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import Frame, Page, expect

from tests.browser.conftest import PageStack, axe_violations, email, new_domain, screenshot, start_page_stack, token


@pytest.fixture(scope="module")
def throttled_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageStack]:
    """A stack whose SES throttles every send: each job waits, retrying, long
    enough to be canceled from the page."""
    yield from start_page_stack(
        tmp_path_factory,
        "throttled-stack",
        EMAILOPS_SES_FAULTS="throttle=1",
        EMAILOPS_PARAM_BackoffBaseSeconds="600",
    )


@pytest.fixture
def throttled_page(browser, throttled_stack: PageStack) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    foreign: list[str] = []
    context.on("request", lambda r: None if r.url.startswith(throttled_stack.api) else foreign.append(r.url))
    page = context.new_page()
    yield page
    context.close()
    assert foreign == []


def test_cancel_a_retrying_email_then_retry_it(throttled_page: Page, throttled_stack: PageStack) -> None:
    page, stack = throttled_page, throttled_stack
    domain = new_domain()
    tok = token(domain)
    [job_id] = stack.enqueue(email(domain, "wait@example.org", "Held back by SES"))
    stack.wait_for_status(job_id, tok, {"retrying"})
    page.goto(stack.url(tok))
    row = page.locator(f"#log-body tr.job[data-job-id='{job_id}']")
    expect(row.locator(".badge")).to_have_text(re.compile("retrying$"))
    row.get_by_role("button", name="Show body").click()
    detail = page.locator(f"#detail-{job_id}")
    expect(detail.locator(".timeline li").first).to_contain_text("tried again")
    expect(detail.get_by_role("button", name="Retry")).to_have_count(0)
    # With the keyboard: the focus stays in the email, on the action that follows (Retry)
    detail.get_by_role("button", name="Cancel").focus()
    page.keyboard.press("Enter")
    expect(detail.get_by_role("status")).to_contain_text("Canceled")
    expect(row.locator(".badge")).to_have_text(re.compile("canceled$"))
    expect(detail.get_by_role("button", name="Retry")).to_be_focused()
    assert stack.get(f"/jobs/{job_id}", tok).json()["status"] == "canceled"
    # Canceled: no Cancel any more, Retry instead
    expect(detail.get_by_role("button", name="Cancel")).to_have_count(0)
    screenshot(page, "opened-canceled")
    # Every Retry of this job carries the same Idempotency-Key
    sent_keys: list[str | None] = []
    page.on(
        "request",
        lambda r: (
            sent_keys.append(r.headers.get("idempotency-key")) if r.url.endswith(f"/jobs/{job_id}/retry") else None
        ),
    )
    detail.get_by_role("button", name="Retry").click()
    expect(detail.get_by_role("status")).to_contain_text("Queued again as a new email")
    new_id = re.search(r"\(([0-9A-Z]{26})\)", detail.get_by_role("status").inner_text())
    assert new_id
    fresh = stack.get(f"/jobs/{new_id.group(1)}", tok).json()
    assert fresh["retry_of"] == job_id
    expect(page.locator(f"#log-body tr.job[data-job-id='{new_id.group(1)}']")).to_have_count(1)
    # The old job is unchanged
    assert stack.get(f"/jobs/{job_id}", tok).json()["status"] == "canceled"
    # Retry clicked again: the answer is the first retry's email, nothing more is queued
    detail.get_by_role("button", name="Retry").click()
    expect(detail.get_by_role("status")).to_contain_text(f"Already queued again as a new email ({new_id.group(1)})")
    expect(detail.get_by_role("button", name="Retry")).to_be_enabled()
    # The button was disabled while its request ran; the focus came back to it
    expect(detail.get_by_role("button", name="Retry")).to_be_focused()
    assert len(sent_keys) == 2 and sent_keys[0] and sent_keys[0] == sent_keys[1]
    domain_jobs = stack.get(f"/jobs?domain={domain}", tok).json()["items"]
    assert sorted(j["job_id"] for j in domain_jobs) == sorted([job_id, new_id.group(1)])


def test_an_opened_email_is_not_drawn_again_while_the_log_changes_around_it(
    throttled_page: Page, throttled_stack: PageStack
) -> None:
    page, stack = throttled_page, throttled_stack
    domain = new_domain()
    tok = token(domain)
    [job_id] = stack.enqueue(email(domain, "reader@example.org", "Read at length", body_html="<p>A long read</p>"))
    stack.wait_for_status(job_id, tok, {"retrying"})
    page.goto(stack.url(tok))
    row = page.locator(f"#log-body tr.job[data-job-id='{job_id}']")
    row.get_by_role("button", name="Show body").click()
    detail = page.locator(f"#detail-{job_id}")
    expect(page.frame_locator(f"#detail-{job_id} iframe").get_by_text("A long read")).to_be_visible()

    def email_document() -> Frame:
        [frame] = [each for each in page.frames if each.url == "about:srcdoc"]
        return frame

    # Something the admin did in the email (scrolled, selected) lives as long as its document
    email_document().evaluate("() => { window.reading = 'where the admin left it'; }")
    # A newer email arrives above it: the log's rows move
    [newer] = stack.enqueue(email(domain, "newer@example.org", "Arrived meanwhile"))
    expect(page.locator("#log-body tr.job").first).to_have_attribute("data-job-id", newer)
    # And its own status changes, from elsewhere: the email is drawn with its new status
    canceled = stack.call("POST", f"/jobs/{job_id}/cancel", tok)
    assert canceled.status_code == 200, canceled.text
    expect(row.locator(".badge")).to_have_text(re.compile("canceled$"))
    expect(detail.locator(".facts")).to_contain_text("canceled")
    expect(detail.get_by_role("button", name="Retry")).to_be_visible()
    expect(detail.get_by_role("button", name="Cancel")).to_have_count(0)
    # ... below its row still, and its body never loaded again
    above = "id => document.getElementById(id).previousElementSibling.dataset.jobId"
    assert page.evaluate(above, f"detail-{job_id}") == job_id
    assert email_document().evaluate("() => window.reading") == "where the admin left it"


def test_the_suppression_list_and_remove(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    tok = token(domain)
    for address in ("gone@example.org", "left@example.org"):
        added = page_stack.call("PUT", f"/suppressions/{domain}/{quote(address)}", tok)
        assert added.status_code == 200, added.text
    page_stack.enqueue(email(domain, "row@example.org", "A row"))
    page.goto(page_stack.url(tok))
    # Without a domain chosen, the list asks for one
    page.get_by_role("link", name="Suppressions").click()
    expect(page.get_by_text("Choose a domain above to see its suppression list.")).to_be_visible()
    page.get_by_role("combobox", name="Domain").select_option(domain)
    entries = page.locator("#suppressions-body tr")
    expect(entries).to_have_count(2)
    expect(entries.first).to_contain_text("manual")
    expect(page.get_by_role("button", name="Remove")).to_have_count(2)
    screenshot(page, "suppressions")
    assert axe_violations(page) == []

    entry = page.locator("#suppressions-body tr", has_text="gone@example.org")
    entry.get_by_role("button", name="Remove").click()
    expect(entry).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="gone@example.org removed")).to_be_visible()
    listed = page_stack.get(f"/suppressions?domain={domain}", tok).json()["items"]
    assert [item["email"] for item in listed] == ["left@example.org"]

    # Back to the log: a bulk send to a suppressed address says why it was not queued
    page.get_by_role("link", name="Log").click()
    page.locator("#log-body tr.job").first.get_by_role("checkbox", name=re.compile("^Select")).check()
    page.get_by_role("button", name="Bulk Send").click()
    dialog = page.get_by_role("dialog", name="Bulk Send")
    dialog.get_by_label("Additional recipients").fill("left@example.org gone@example.org")
    dialog.get_by_label("Subject").fill("News")
    dialog.get_by_label("Email Body").fill("Hello")
    dialog.get_by_role("button", name="Queue Emails").click()
    expect(dialog).to_contain_text("Queued 2 emails.")
    rejected = dialog.locator("ul.rejected li")
    expect(rejected).to_have_count(1)
    expect(rejected.first).to_contain_text(re.compile("left@example.org — suppressed"))
    dialog.get_by_role("link", name="suppression list").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#suppressions-body tr")).to_have_count(1)


def test_an_empty_suppression_list_says_so(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    page.goto(page_stack.url(token(domain)))
    page.get_by_role("combobox", name="Domain").select_option(domain)
    page.get_by_role("link", name="Suppressions").click()
    expect(page.get_by_text(f"No suppressed addresses for {domain}.")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Suppressions for {domain}")).to_be_visible()


def test_a_bounced_email_shows_its_delivery_events_and_what_retry_answers(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    tok = token(domain)
    [job_id] = page_stack.enqueue(email(domain, "bounce@simulator.amazonses.com", "Will bounce"))
    # The local stack emulates SES's mailbox simulator: a permanent bounce within seconds
    page_stack.wait_for_status(job_id, tok, {"bounced"}, timeout=60)
    page.goto(page_stack.url(tok))
    row = page.locator(f"#log-body tr.job[data-job-id='{job_id}']")
    expect(row.locator(".badge")).to_have_text(re.compile("bounced$"))
    row.get_by_role("button", name="Show body").click()
    detail = page.locator(f"#detail-{job_id}")
    timeline = detail.locator(".timeline li")
    # One timeline: the attempt first, then the bounce with SES's detail
    expect(timeline.first).to_contain_text("Accepted by SES")
    expect(timeline.last).to_contain_text("Bounced.")
    events = page_stack.get(f"/jobs/{job_id}", tok).json()["events"]
    assert events and events[-1]["type"] == "bounced"
    expect(timeline.last).to_contain_text(events[-1]["detail"])
    expect(detail.get_by_role("button", name="Cancel")).to_have_count(0)
    screenshot(page, "opened-bounced")
    assert axe_violations(page) == []
    # The bounce put the address on the suppression list: Retry says what the API says
    detail.get_by_role("button", name="Retry").click()
    refused = page_stack.call("POST", f"/jobs/{job_id}/retry", tok)
    assert refused.status_code == 409
    expect(detail.get_by_role("status")).to_have_text(refused.json()["error"]["message"])
