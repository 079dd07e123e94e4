"""The view lives in the address (issue #31, items 6 and 9; docs/page.md,
"The address"): filters and the opened email survive a reload, Back and
Forward move between views, an email can be sent to a colleague as a link; a
row opens wherever it is clicked; ids have copy buttons; dates have their
year and time zone, with how long ago beside them; the log has a Type column."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PageStack, Watch, email, new_domain, open_context, screenshot, token

HEADERS = ["Created", "Domain", "Recipient", "Subject", "Status", "Attempts", "Sent At", "Error", "Type"]


def query(page: Page) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(page.url).query).items()}


def rows(page: Page):
    return page.locator("#log-body tr.job")


def row_of(page: Page, job_id: str):
    return page.locator(f"#log-body tr.job[data-job-id='{job_id}']")


def test_filters_and_the_opened_email_live_in_the_address_and_back_and_forward_move_between_views(
    page: Page, page_stack: PageStack
) -> None:
    domain = new_domain()
    first, invited, third = page_stack.enqueue(
        email(domain, "carol@example.org", "To Carol"),
        {**email(domain, "dave@example.org", "An invitation"), "type": "invitation"},
        email(domain, "erin@example.org", "To Erin"),
    )
    tok = token(domain)
    page.goto(page_stack.url(tok))
    expect(rows(page)).to_have_count(3)
    assert query(page) == {}

    page.get_by_role("combobox", name="Domain").select_option(domain)
    expect(page).to_have_url(re.compile(rf"\?domain={re.escape(domain)}$"))
    page.get_by_role("combobox", name="Type").select_option("invitation")
    expect(rows(page)).to_have_count(1)
    assert query(page) == {"domain": domain, "type": "invitation"}

    # A click anywhere on the row (here: its subject) opens the email
    row_of(page, invited).locator("td.subject").click()
    toggle = row_of(page, invited).get_by_role("button", name="Show body")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    assert query(page) == {"domain": domain, "type": "invitation", "job": invited}

    # A reload shows the same view, the email opened
    page.reload()
    expect(page.get_by_role("combobox", name="Type")).to_have_value("invitation")
    expect(page.get_by_role("combobox", name="Domain")).to_have_value(domain)
    expect(row_of(page, invited).get_by_role("button", name="Show body")).to_have_attribute("aria-expanded", "true")
    expect(page.locator(f"#detail-{invited} pre")).to_have_text("Hello.")

    # Back: the email closes; Back again: every type; Forward twice: where it was
    page.go_back()
    expect(page.locator("tr.detail")).to_have_count(0)
    assert query(page) == {"domain": domain, "type": "invitation"}
    page.go_back()
    expect(rows(page)).to_have_count(3)
    expect(page.get_by_role("combobox", name="Type")).to_have_value("")
    page.go_forward()
    expect(rows(page)).to_have_count(1)
    page.go_forward()
    expect(page.locator(f"#detail-{invited}")).to_be_visible()

    # The views are in the address too: Suppressions, then Back to the log
    page.get_by_role("link", name="Suppressions").click()
    assert query(page) == {"view": "suppressions", "domain": domain}
    expect(page.get_by_role("heading", name=f"Suppressions for {domain}")).to_be_visible()
    page.go_back()
    expect(page.locator(f"#detail-{invited}")).to_be_visible()
    expect(page.get_by_role("link", name="Log")).to_have_attribute("aria-current", "page")
    # Back to the first view, the address the page was opened with: still in this app, still signed in
    for _ in range(3):
        page.go_back()
    assert page.url == f"{page_stack.api}/"
    expect(rows(page)).to_have_count(3)
    assert {first, third} <= {rows(page).nth(i).get_attribute("data-job-id") for i in range(3)}


def test_clicking_a_row_opens_it_but_its_checkbox_and_a_text_selection_do_not(
    page: Page, page_stack: PageStack
) -> None:
    domain = new_domain()
    [job_id] = page_stack.enqueue(email(domain, "frank@example.org", "Select me"))
    page.goto(page_stack.url(token(domain)))
    row = row_of(page, job_id)
    row.get_by_role("checkbox", name="Select frank@example.org").click()
    expect(page.locator("tr.detail")).to_have_count(0)
    # Selecting the recipient's text to copy it does not open the row either
    row.locator("td.recipient").dblclick()
    expect(page.locator("tr.detail")).to_have_count(0)
    page.evaluate("() => window.getSelection().removeAllRanges()")
    row.locator("td.status").click()
    expect(page.locator(f"#detail-{job_id}")).to_be_visible()
    # And a second click closes it; one email is open at a time
    row.locator("td.status").click()
    expect(page.locator("tr.detail")).to_have_count(0)


def test_a_link_to_an_email_opens_it_for_a_colleague_even_off_the_first_page(
    browser: Browser, page_stack: PageStack, watch: Watch
) -> None:
    domain = new_domain()
    ids = page_stack.enqueue(*[email(domain, f"r{i}@example.org", f"Number {i}") for i in range(53)])
    oldest = ids[0]  # on the second page of the log
    link = f"{page_stack.api}/?domain={domain}&status=&job={oldest}"
    context = open_context(browser, page_stack, watch)
    try:
        colleague = context.new_page()
        # Signed in in this tab with a token of its own, then the link
        colleague.goto(page_stack.url(token(domain)))
        expect(rows(colleague)).to_have_count(50)
        colleague.goto(link)
        detail = colleague.locator(f"#detail-{oldest}")
        expect(detail).to_be_visible()
        expect(detail).to_contain_text("r0@example.org")
        # Shown above the log's first page, marked as opened from the address
        expect(rows(colleague).first).to_have_attribute("data-job-id", oldest)
        expect(rows(colleague).first).to_have_class(re.compile(r"\blinked\b"))
        screenshot(colleague, "linked-email")
        # The same link with a token in its fragment, in a tab that has none: signed in, the email opened
        fresh = context.new_page()
        fresh.goto(f"{link}#token={token(domain)}")
        expect(fresh.locator(f"#detail-{oldest}")).to_be_visible()
        assert "token" not in fresh.url
        assert query(fresh) == {"domain": domain, "job": oldest}
        # A link to no email of the token's domains says so and opens nothing
        colleague.bring_to_front()  # a tab in the background does not refresh its log
        colleague.goto(f"{page_stack.api}/?domain={domain}&job=01ARZ3NDEKTSV4RRFFQ69G5FAV")
        # (the list, then the email's 404: two answers of a local stack that may share two cores with others)
        expect(colleague.get_by_role("alert")).to_contain_text("No email 01ARZ3NDEKTSV4RRFFQ69G5FAV", timeout=15_000)
        expect(colleague.locator("tr.detail")).to_have_count(0)
        # It stays while the log refreshes itself (as it does when its tab comes back), until the view changes
        fresh.bring_to_front()
        with colleague.expect_response(lambda r: "/jobs?" in r.url and r.ok, timeout=15_000):
            colleague.bring_to_front()
        expect(colleague.locator("#log-state")).to_contain_text("50 emails")
        expect(colleague.get_by_role("alert")).to_contain_text("No email 01ARZ3NDEKTSV4RRFFQ69G5FAV")
        colleague.get_by_role("combobox", name="Status").select_option("queued")
        expect(colleague.get_by_role("alert")).to_be_hidden()
        assert "job" not in query(colleague)
    finally:
        context.close()


def test_ids_have_copy_buttons_and_the_email_a_link_to_copy(page: Page, page_stack: PageStack) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=page_stack.api)
    domain = new_domain()
    tok = token(domain)
    page_stack.enqueue(email(domain, "first@example.org", "A system email"))
    bulk = page_stack.call(
        "POST",
        "/jobs/bulk",
        tok,
        json={"domain": domain, "extra_recipients": "gina@example.org", "subject": "News", "body": "Hello"},
    ).json()
    [bulk_job] = bulk["job_ids"]
    page.goto(page_stack.url(tok))
    row_of(page, bulk_job).get_by_role("button", name="Show body").click()
    detail = page.locator(f"#detail-{bulk_job}")

    def copied(name: str) -> str:
        detail.get_by_role("button", name=name).click()
        expect(detail.get_by_role("button", name=name)).to_have_text("Copied")
        return str(page.evaluate("navigator.clipboard.readText()"))

    assert copied("Copy job id") == bulk_job
    assert copied("Copy bulk id") == bulk["bulk_id"]
    link = copied("Copy link to this email")
    assert "token" not in link
    assert parse_qs(urlsplit(link).query)["job"] == [bulk_job]
    # The bulk id is also a link to that bulk send's emails
    detail.get_by_role("link", name=bulk["bulk_id"]).click()
    expect(page).to_have_url(re.compile(rf"bulk={bulk['bulk_id']}"))
    expect(rows(page)).to_have_count(1)
    expect(page.get_by_text(f"Showing the emails of bulk send {bulk['bulk_id']}")).to_be_visible()
    page.get_by_role("button", name="Show every email").click()
    expect(rows(page)).to_have_count(2)


def test_the_log_has_a_type_column_and_dates_with_year_zone_and_how_long_ago(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    [job_id] = page_stack.enqueue({**email(domain, "ken@example.org", "An escalation"), "type": "escalation"})
    page.goto(page_stack.url(token(domain)))
    table = page.get_by_role("table")
    assert [h.strip() for h in table.get_by_role("columnheader").all_inner_texts()] == HEADERS
    row = row_of(page, job_id)
    expect(row.locator("td.type")).to_have_text("Escalation")
    created = row.locator("td.created time")
    iso = created.get_attribute("datetime")
    assert iso
    # The context runs in Europe/Berlin with en-US: the year, the local time and the zone's name
    expected = page.evaluate(
        """iso => new Intl.DateTimeFormat(undefined, {year: "numeric", month: "short", day: "numeric",
             hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"}).format(new Date(iso))""",
        iso,
    )
    expect(created).to_have_text(expected)
    assert iso[:4] in expected and re.search(r"GMT\+[12]|CES?T", expected)
    expect(row.locator("td.created .ago")).to_have_text(re.compile(r"(just now|seconds? ago|minutes? ago)$"))
    assert created.get_attribute("title") == f"{iso[:10]} {iso[11:19]} UTC"
