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
    # The new email names the one it retries, with a link to it and a copy button
    detail.get_by_role("link", name="Open the new email").click()
    fresh = page.locator(f"#detail-{new_id.group(1)}")
    expect(fresh).to_be_visible()
    retry_of = fresh.locator(".facts > div", has_text="Retry of")
    expect(retry_of.get_by_role("button", name="Copy id of the email it retries")).to_be_visible()
    retry_of.get_by_role("link", name=job_id).click()
    expect(page.locator(f"#detail-{job_id}")).to_be_visible()
    expect(fresh).to_have_count(0)


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


def confirm_then_remove(page: Page, stack: PageStack, domain: str, tok: str) -> None:
    """Remove asks first, in a dialog that names the address and why it is
    listed; Keep (or Escape) keeps it; Remove in the dialog removes it."""
    entries = page.locator("#suppressions-body tr")
    entry = page.locator("#suppressions-body tr", has_text="gone@example.org")
    entry.get_by_role("button", name="Remove").click()
    confirm = page.get_by_role("dialog", name="Remove suppression")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("gone@example.org")
    expect(confirm).to_contain_text("added by an admin (manual)")
    expect(confirm.get_by_role("button", name="Keep")).to_be_focused()
    assert axe_violations(page) == []
    confirm.get_by_role("button", name="Keep").click()
    expect(confirm).to_be_hidden()
    expect(entry.get_by_role("button", name="Remove")).to_be_focused()
    assert len(stack.get(f"/suppressions?domain={domain}", tok).json()["items"]) == 2
    entry.get_by_role("button", name="Remove").click()
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(entries).to_have_count(2)
    entry.get_by_role("button", name="Remove").click()
    confirm.get_by_role("button", name="Remove").click()
    expect(confirm).to_be_hidden()
    expect(entry).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="gone@example.org removed")).to_be_visible()
    listed = stack.get(f"/suppressions?domain={domain}", tok).json()["items"]
    assert [item["email"] for item in listed] == ["left@example.org"]


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

    confirm_then_remove(page, page_stack, domain, tok)

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


def test_a_bounced_email_shows_its_delivery_events_and_no_retry_to_its_suppressed_address(
    page: Page, page_stack: PageStack
) -> None:
    domain = new_domain()
    tok = token(domain)
    [job_id] = page_stack.enqueue(email(domain, "bounce@simulator.amazonses.com", "Will bounce"))
    # The local stack emulates SES's mailbox simulator: a permanent bounce within seconds
    page_stack.wait_for_status(job_id, tok, {"bounced"}, timeout=60)
    page.goto(page_stack.url(tok))
    row = page.locator(f"#log-body tr.job[data-job-id='{job_id}']")
    expect(row.locator(".badge")).to_have_text(re.compile("bounced$"))
    # The Error column gives the plain cause first
    expect(row.locator("td.error")).to_have_text(re.compile("^Permanent bounce"))
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
    # The bounce put the address on the suppression list: Retry would be refused, so it is not offered, and the
    # page says why, with the way to the entry
    expect(detail.get_by_role("button", name="Retry")).to_have_count(0)
    notice = detail.get_by_role("note")
    expect(notice).to_contain_text("Retry is not offered.")
    expect(notice).to_contain_text(
        f"bounce@simulator.amazonses.com is on {domain}'s suppression list (a permanent bounce"
    )
    screenshot(page, "opened-bounced")
    assert axe_violations(page) == []
    assert page_stack.call("POST", f"/jobs/{job_id}/retry", tok).json()["error"]["code"] == "suppressed"

    notice.get_by_role("link", name="bounce@simulator.amazonses.com in Suppressions").click()
    expect(page.get_by_role("heading", name=f"Suppressions for {domain}")).to_be_visible()
    entry = page.locator("#suppressions-body tr", has_text="bounce@simulator.amazonses.com")
    expect(entry).to_have_attribute("aria-current", "true")
    expect(entry.locator("td").first).to_be_focused()
    entry.get_by_role("button", name="Remove").click()
    confirm = page.get_by_role("dialog", name="Remove suppression")
    expect(confirm).to_contain_text("a permanent bounce (bounced)")
    expect(confirm).to_contain_text("refused this address for good")
    confirm.get_by_role("button", name="Remove").click()
    expect(entry).to_have_count(0)
    # Back to the email: now that the address is off the list, Retry is offered
    page.go_back()
    expect(detail.get_by_role("button", name="Retry")).to_be_visible()
    expect(detail.get_by_role("note")).to_have_count(0)


def test_a_retry_the_api_refuses_is_said_plainly_with_the_way_to_the_entry(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    tok = token(domain)
    [job_id] = page_stack.enqueue(email(domain, "bounce@simulator.amazonses.com", "Will bounce"))
    page_stack.wait_for_status(job_id, tok, {"bounced"}, timeout=60)
    # The page cannot read the list (as if it were listed only after the email was opened): Retry is offered,
    # and the API refuses it
    page.route("**/suppressions?*", lambda route: route.fulfill(status=503, json={"message": "Service Unavailable"}))
    # ... nor do the email's own events say (a transient bounce would not suppress)
    original = page_stack.get(f"/jobs/{job_id}", tok).json()

    def without_events(route) -> None:
        route.fulfill(json={**original, "events": []})

    page.route(f"**/jobs/{job_id}", without_events)
    page.goto(page_stack.url(tok))
    row = page.locator(f"#log-body tr.job[data-job-id='{job_id}']")
    row.get_by_role("button", name="Show body").click()
    detail = page.locator(f"#detail-{job_id}")
    detail.get_by_role("button", name="Retry").click()
    refused = page_stack.call("POST", f"/jobs/{job_id}/retry", tok).json()["error"]
    answer = detail.locator(".action-message")
    expect(answer).to_have_text(re.compile(f"^Not queued again: {re.escape(refused['message'])}"))
    expect(answer).to_have_class(re.compile("notice-refused"))
    page.unroute("**/suppressions?*")
    answer.get_by_role("link", name="bounce@simulator.amazonses.com in Suppressions").click()
    expect(page.locator("#suppressions-body tr[aria-current='true']")).to_contain_text("bounce@simulator.amazonses.com")


def test_a_throttled_email_is_shown_waiting_not_failing(throttled_page: Page, throttled_stack: PageStack) -> None:
    page, stack = throttled_page, throttled_stack
    domain = new_domain()
    tok = token(domain)
    [job_id] = stack.enqueue(email(domain, "patient@example.org", "Held back by SES"))
    job = stack.wait_for_status(job_id, tok, {"retrying"})
    code, _, cause = job["error"].partition(": ")
    assert code == "TooManyRequestsException"
    page.goto(stack.url(tok))
    row = page.locator(f"#log-body tr.job[data-job-id='{job_id}']")
    error = row.locator("td.error")
    # The plain cause first, SES's code after it; said as waiting, in no alarming colour
    expect(error).to_have_text(f"Waiting: {cause} {code}")
    expect(error.locator("code")).to_have_text(code)
    colours = page.evaluate(
        """() => { const cell = document.querySelector("td.error"); const probe = document.createElement("span");
                   probe.style.color = "var(--danger)"; document.body.append(probe);
                   const danger = getComputedStyle(probe).color; probe.style.color = "var(--muted)";
                   const muted = getComputedStyle(probe).color; probe.remove();
                   return {cell: getComputedStyle(cell).color, danger, muted}; }"""
    )
    assert colours["cell"] == colours["muted"] != colours["danger"]
    expect(row.locator(".badge")).to_have_text(re.compile("retrying$"))
    row.get_by_role("button", name="Show body").click()
    expect(page.locator(f"#detail-{job_id} .timeline li").first).to_contain_text("Waiting for SES")
