"""The page in a real browser: signing in, the log and its filters, one email
opened below its row, the states an admin meets (docs/page.md)."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import Page, expect

from tests.browser.conftest import Listener, PageStack, axe_violations, email, new_domain, screenshot, token

# The help page's eight in its order (each in its place), then Type (there is a Type filter)
HEADERS = ["Created", "Domain", "Recipient", "Subject", "Status", "Attempts", "Sent At", "Error", "Type"]


def signed_in(page: Page, stack: PageStack, *domains: str) -> str:
    tok = token(*domains)
    page.goto(stack.url(tok))
    expect(page.get_by_role("table")).to_be_visible()
    return tok


def job_rows(page: Page):
    return page.locator("#log-body tr.job")


# ------------------------------------------------------------------ serving
def test_the_page_is_served_without_a_token_with_a_strict_policy(page_stack: PageStack) -> None:
    answer = requests.get(f"{page_stack.api}/", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    policy = {part.split()[0]: part.split()[1:] for part in answer.headers["content-security-policy"].split("; ")}
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    # Its files beside it; nothing else is answered
    script = requests.get(f"{page_stack.api}/static/app.js", timeout=10)
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    for missing in ("/static/nope.js", "/static/index.html", "/static/..%2Ftemplate.yaml"):
        refused = requests.get(f"{page_stack.api}{missing}", timeout=10)
        assert refused.status_code == 404, missing
        assert refused.json()["error"]["code"] == "not_found"
    # No inline script anywhere in the page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", answer.text)
    assert not re.search(r"<[^>]+\son[a-z]+=", answer.text)


# ------------------------------------------------------------------ the token
def test_the_token_in_the_address_is_taken_removed_and_kept_for_this_tab_only(
    page: Page, page_stack: PageStack, browser
) -> None:
    domain = new_domain()
    tok = signed_in(page, page_stack, domain)
    # Out of the address bar and the history
    assert "token" not in page.url
    assert "token" not in page.evaluate("location.href")
    assert page.evaluate("sessionStorage.getItem('emailops.token')") == tok
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    # A reload keeps the tab signed in
    page.reload()
    expect(page.get_by_role("table")).to_be_visible()
    # Sign out forgets it
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('emailops.token')") is None


def test_without_a_token_the_page_asks_for_one_and_signs_in_with_it(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    page.goto(page_stack.url())
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("table")).to_be_hidden()
    screenshot(page, "sign-in")
    page.get_by_role("textbox", name="Token").fill(token(domain))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("combobox", name="Domain")).to_be_visible()
    expect(page.get_by_text("No emails yet for your domains")).to_be_visible()


def test_an_expired_or_refused_token_asks_to_sign_in_again(page: Page, page_stack: PageStack) -> None:
    page.goto(page_stack.url(token(new_domain(), ttl_seconds=-60)))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text(re.compile("expired.*Sign in again"))).to_be_visible()
    # A token the API refuses (another secret): the first call answers 401
    from local.tokens import mint, template_rules

    forged = mint([new_domain()], secret="not-the-secret", rules=template_rules())
    page.goto(page_stack.url(forged))
    expect(page.get_by_text(re.compile("refused or has expired. Sign in again"))).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('emailops.token')") is None


# ------------------------------------------------------------------ the log
def test_the_log_has_the_help_pages_columns_and_one_row_per_job_newest_first(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    ids = page_stack.enqueue(
        email(domain, "first@example.org", "The first"),
        email(domain, "second@example.org", "The second"),
        email(domain, "third@example.org", "The third"),
    )
    signed_in(page, page_stack, domain)
    table = page.get_by_role("table")
    # The help page's eight in their order and places, then Type, and no other column
    assert [h.strip() for h in table.get_by_role("columnheader").all_inner_texts()] == HEADERS
    for header in HEADERS:
        expect(table.get_by_role("columnheader", name=header, exact=True)).to_have_count(1)
    rows = job_rows(page)
    expect(rows).to_have_count(3)
    # Newest first: job ids are time-ordered
    assert [rows.nth(i).get_attribute("data-job-id") for i in range(3)] == sorted(ids, reverse=True)
    expect(rows.nth(0)).to_contain_text("third@example.org")
    for i in range(3):
        row = rows.nth(i)
        expect(row.get_by_role("checkbox", name=re.compile("^Select"))).to_have_count(1)
        toggle = row.get_by_role("button", name="Show body")
        expect(toggle).to_have_attribute("aria-expanded", "false")
    # Status as a badge with its word; Attempts; the domain
    expect(rows.nth(0).locator(".badge")).to_have_text(re.compile("(queued|sending|sent|delivered)$"))
    expect(rows.nth(2)).to_contain_text(domain)


def test_times_show_in_the_browsers_zone_with_utc_on_hover(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    page_stack.enqueue(email(domain, "zone@example.org", "Zones"))
    signed_in(page, page_stack, domain)
    created = job_rows(page).first.locator("td.created time")
    iso = created.get_attribute("datetime")
    assert iso and iso.endswith("Z")
    title = created.get_attribute("title")
    assert title and title.endswith(" UTC") and iso[11:19] in title
    # The context runs in Europe/Berlin: the shown hour is not UTC's (except at no offset)
    shown = created.inner_text()
    utc_hour = int(iso[11:13])
    local_hour = page.evaluate("iso => new Date(iso).getHours()", iso)
    assert local_hour != utc_hour
    assert f"{local_hour:02d}:" in shown or f"{local_hour % 12 or 12}:" in shown


def test_the_filters_narrow_the_log(page: Page, page_stack: PageStack) -> None:
    one, two = new_domain("one"), new_domain("two")
    page_stack.enqueue(
        email(one, "carol@example.org", "To Carol"),
        {**email(one, "dave@example.org", "An invitation"), "type": "invitation"},
        email(two, "erin@example.org", "To Erin"),
    )
    signed_in(page, page_stack, one, two)
    domain = page.get_by_role("combobox", name="Domain")
    options = domain.locator("option").all_inner_texts()
    assert options == ["All my domains", *sorted([one, two])]
    expect(job_rows(page)).to_have_count(3)

    domain.select_option(two)
    expect(job_rows(page)).to_have_count(1)
    expect(job_rows(page).first).to_contain_text("erin@example.org")

    domain.select_option(one)
    page.get_by_role("combobox", name="Type").select_option("invitation")
    expect(job_rows(page)).to_have_count(1)
    expect(job_rows(page).first).to_contain_text("dave@example.org")

    page.get_by_role("combobox", name="Type").select_option("")
    search = page.get_by_role("searchbox", name="Recipient")
    search.fill("CAROL@example.org")
    search.press("Enter")
    expect(job_rows(page)).to_have_count(1)
    expect(job_rows(page).first).to_contain_text("carol@example.org")

    search.fill("")
    search.press("Enter")
    page.get_by_role("combobox", name="Status").select_option("failed")
    expect(page.get_by_text(f"No emails for {one} match these filters.")).to_be_visible()
    expect(job_rows(page)).to_have_count(0)


def test_a_caller_of_every_domain_types_the_domain(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    page_stack.enqueue(email(domain, "star@example.org", "For the star"))
    signed_in(page, page_stack, "*")
    box = page.get_by_role("textbox", name="Domain")
    expect(box).to_be_visible()
    box.fill(domain)
    box.press("Enter")
    # The local stack runs one invocation of a function at a time, as one Lambda
    # execution environment does: the domain's page waits for the first one, of
    # every domain the suite has mailed, which on moto takes seconds.
    expect(job_rows(page)).to_have_count(1, timeout=30_000)
    expect(job_rows(page).first).to_contain_text("star@example.org")


def test_an_empty_log_says_so_for_the_domain(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    signed_in(page, page_stack, domain)
    page.get_by_role("combobox", name="Domain").select_option(domain)
    expect(page.get_by_text(f"No emails yet for {domain}")).to_be_visible()


def test_next_page_while_more_jobs_follow(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    page_stack.enqueue(*[email(domain, f"r{i}@example.org", f"Number {i}") for i in range(53)])
    signed_in(page, page_stack, domain)
    expect(job_rows(page)).to_have_count(50)
    expect(job_rows(page).first).to_contain_text("r52@example.org")
    next_page = page.get_by_role("button", name="Next page")
    expect(next_page).to_be_visible()
    next_page.click()
    expect(job_rows(page)).to_have_count(3)
    expect(job_rows(page).last).to_contain_text("r0@example.org")
    expect(next_page).to_be_hidden()
    page.get_by_role("button", name="First page").click()
    expect(job_rows(page)).to_have_count(50)


def test_the_log_refreshes_itself_while_a_visible_job_is_not_final(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    page_stack.enqueue(email(domain, "early@example.org", "Early"))
    signed_in(page, page_stack, domain)
    expect(job_rows(page)).to_have_count(1)
    # "sent" is not final (delivery events may still come): a new job shows up unasked
    page_stack.enqueue(email(domain, "later@example.org", "Later"))
    expect(job_rows(page)).to_have_count(2, timeout=15_000)
    expect(job_rows(page).first).to_contain_text("later@example.org")


# ------------------------------------------------------------------ one email
def test_show_body_opens_the_email_below_its_row(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    page_stack.enqueue(
        email(
            domain,
            "opened@example.org",
            "Your conversation summary",
            body_text="Thanks for chatting.\nHere is the summary.",
            body_html="<h1>Summary</h1><p style='color:#0a0'>Thanks for chatting.</p>",
            reply_to="support@example.org",
        )
    )
    tok = signed_in(page, page_stack, domain)
    [job] = page_stack.get(f"/jobs?domain={domain}", tok).json()["items"]
    page_stack.wait_for_status(job["job_id"], tok, {"sent", "delivered"})
    row = job_rows(page).first
    toggle = row.get_by_role("button", name="Show body")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    detail = page.locator(f"#{toggle.get_attribute('aria-controls')}")
    # Right below its row
    above = "id => document.getElementById(id).previousElementSibling.dataset.jobId"
    assert page.evaluate(above, f"detail-{job['job_id']}") == job["job_id"]
    expect(detail.locator("pre")).to_have_text("Thanks for chatting.\nHere is the summary.")
    frame = detail.locator("iframe")
    assert frame.get_attribute("sandbox") == ""
    expect(page.frame_locator(f"#detail-{job['job_id']} iframe").get_by_role("heading", name="Summary")).to_be_visible()
    expect(detail).to_contain_text("support@example.org")
    expect(detail.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(detail.locator(".timeline li").first).to_contain_text("Accepted by SES")
    expect(detail).to_contain_text("remote images blocked")
    # Nothing to cancel or retry once sent
    expect(detail.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(detail.get_by_role("button", name="Retry")).to_have_count(0)
    screenshot(page, "opened-row")
    assert axe_violations(page) == []
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(detail).to_have_count(0)


def test_subject_recipient_and_html_carrying_script_run_nothing(
    page: Page, page_stack: PageStack, watch, listener: Listener
) -> None:
    domain = new_domain()
    payload = '<img src=x onerror="window.__pwned=1;alert(1)"><script>window.__pwned=1;alert(1)</script>'
    html = (
        "<p>Hi</p><script>parent.__pwned=1;alert(1)</script>"
        '<img src=x onerror="parent.__pwned=1;alert(1)">'
        f'<img src="{page_stack.api}/jobs?tracking=1"><img src="{listener.origin}/pixel.png">'
        '<a id=link href="javascript:parent.__pwned=1">click</a>'
        '<svg onload="parent.__pwned=1"></svg><iframe src="javascript:parent.__pwned=1"></iframe>'
        # Port 9 (refused by Chromium itself): a frame that navigated would leave nothing to inspect.
        '<meta http-equiv="refresh" content="0;url=http://127.0.0.1:9/away">'
        f'<form action="{listener.origin}/post"><button id=go>go</button></form>'
        f'<link rel="stylesheet" href="{listener.origin}/style.css">'
        f'<video poster="{listener.origin}/poster.png"></video>'
    )
    # What an address may carry: characters that break out of an unquoted attribute
    recipient = "x'/onfocus='window.__pwned=1'/autofocus='@example.org"
    page_stack.enqueue(email(domain, recipient, payload, body_text=payload, body_html=html))
    tok = signed_in(page, page_stack, domain)
    [job] = page_stack.get(f"/jobs?domain={domain}", tok).json()["items"]
    # Final before the body is opened, so what follows looks at one state of the email.
    page_stack.wait_for_status(job["job_id"], tok, {"delivered"})
    row = job_rows(page).first
    expect(row.locator("td.status")).to_contain_text("delivered")
    # Shown as text, never as markup
    expect(row.locator("td.subject")).to_have_text(payload)
    expect(row.locator("td.recipient")).to_have_text(recipient)
    row.get_by_role("button", name="Show body").click()
    detail = page.locator("tr.detail")
    expect(detail.locator("pre")).to_have_text(payload)
    frame = page.frame_locator("tr.detail iframe")
    expect(frame.get_by_text("Hi")).to_be_visible()
    frame.locator("#link").click()
    page.wait_for_timeout(1500)
    # No form to submit either: the email's document holds nothing that runs or loads (web/preview.js)
    [email_document] = [each for each in page.frames if each.url == "about:srcdoc"]
    left = email_document.evaluate(
        """() => ({
          elements: [...document.querySelectorAll(
            "script, iframe, object, embed, form, button, link, meta[http-equiv=refresh], base, svg, video")]
            .map((e) => e.localName),
          handlers: [...document.querySelectorAll("*")].flatMap((e) => [...e.attributes]).map((a) => a.name)
            .filter((name) => name.startsWith("on")),
          urls: [...document.querySelectorAll("[src], [href], [action], [poster], [srcset]")].map((e) => e.outerHTML),
        })"""
    )
    assert left == {"elements": [], "handlers": [], "urls": []}
    assert page.evaluate("window.__pwned") is None
    # Every frame that holds a document; the email's javascript: frame never gets one (the sandbox refuses
    # it), and Playwright would wait for ever to evaluate in it.
    documents = [each for each in page.frames if each.url]
    assert len(documents) >= 2  # the page and the email
    for each in documents:
        assert each.evaluate("() => window.__pwned === undefined")
    assert watch.dialogs == []
    # A frame taken out of the page and put back loads again: still nothing.
    page.evaluate("() => { const body = document.getElementById('log-body'); body.replaceChildren(...body.children); }")
    expect(frame.get_by_text("Hi")).to_be_visible()
    page.wait_for_timeout(500)
    # The email's HTML reached nothing, not even this origin: no request left the browser
    assert listener.hits == []
    assert not [url for url in watch.requests if "tracking=1" in url or listener.origin in url]
    screenshot(page, "payloads")


# ------------------------------------------------------------------ states
def test_a_403_and_a_lost_network_are_said_plainly_and_the_table_kept(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    page_stack.enqueue(email(domain, "kept@example.org", "Kept"))
    signed_in(page, page_stack, domain)
    expect(job_rows(page)).to_have_count(1)

    # The API refuses the domain (a token whose claim the API reads otherwise)
    def forbidden(route):
        route.fulfill(
            status=403,
            json={"error": {"code": "forbidden", "message": f"{domain} is not among your domains"}},
        )

    page.route("**/jobs?*", forbidden)
    page.get_by_role("combobox", name="Domain").select_option(domain)
    expect(page.get_by_role("alert")).to_contain_text(f"You may not see {domain}")
    page.unroute("**/jobs?*")

    page.route("**/jobs?*", lambda route: route.abort("internetdisconnected"))
    page.get_by_role("combobox", name="Type").select_option("ai_followup")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Could not reach the service")
    expect(job_rows(page)).to_have_count(1)
    page.unroute("**/jobs?*")
    alert.get_by_role("button", name="Try again").click()
    expect(alert).to_be_hidden()
    expect(job_rows(page)).to_have_count(1)


def test_the_log_passes_axe(page: Page, page_stack: PageStack) -> None:
    domain = new_domain()
    page_stack.enqueue(
        email(domain, "a11y@example.org", "Accessible"),
        {**email(domain, "bounce@simulator.amazonses.com", "Will bounce"), "type": "escalation"},
    )
    signed_in(page, page_stack, domain)
    expect(job_rows(page)).to_have_count(2)
    screenshot(page, "log")
    assert axe_violations(page) == []
    # The suppressions view, before a domain is chosen (the list itself: test_page_actions.py)
    page.get_by_role("link", name="Suppressions").click()
    expect(page.get_by_text("Choose a domain above to see its suppression list.")).to_be_visible()
    expect(page.get_by_role("link", name="Suppressions")).to_have_attribute("aria-current", "page")
    assert axe_violations(page) == []
    page.get_by_role("link", name="Log").click()
    expect(job_rows(page)).to_have_count(2)
    page.goto(page_stack.url())  # still signed in: the sign-in view is the other one
    page.get_by_role("button", name="Sign out").click()
    assert axe_violations(page) == []


def test_the_url_the_stack_prints_opens_the_page_signed_in(page: Page, page_stack: PageStack) -> None:
    printed = re.findall(r"(http://127\.0\.0\.1:\d+/#token=[\w.-]+)", page_stack.stack.output())
    assert len(printed) == 1
    assert printed[0].startswith(f"{page_stack.api}/#token=")
    page.goto(printed[0])
    expect(page.get_by_text("Signed in for acme.com, beta.io")).to_be_visible()
    assert page.get_by_role("combobox", name="Domain").locator("option").all_inner_texts() == [
        "All my domains",
        "acme.com",
        "beta.io",
    ]
    assert "token" not in page.url


def test_signing_in_with_another_token_shows_nothing_of_the_first(page: Page, page_stack: PageStack) -> None:
    first, second = new_domain("first"), new_domain("second")
    page_stack.enqueue(email(first, "mine@example.org", "The first tenant's"))
    page.goto(page_stack.url(token(first)))
    page.get_by_role("combobox", name="Domain").select_option(first)
    expect(job_rows(page)).to_have_count(1)
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#log-body tr")).to_have_count(0)
    page.get_by_role("textbox", name="Token").fill(token(second))
    page.get_by_role("button", name="Sign in").click()
    # The first token's domain is not kept as a filter the second may not use
    expect(page.get_by_text("No emails yet for your domains")).to_be_visible()
    expect(page.get_by_role("combobox", name="Domain")).to_have_value("")
    assert "mine@example.org" not in page.content()
    assert page.get_by_role("alert").is_hidden()
