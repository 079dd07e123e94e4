"""Statistics (issue #31; contract section 8, `Statistics`; docs/page.md,
"Statistics"): the last 30 days as a chart named "Emails per day" that the
page draws itself (inline SVG: nothing from another origin, which the
`context` fixture checks for every request), and the same figures as a table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import PageStack, axe_violations, email, new_domain, screenshot, token
from tests.e2e.stack_process import wait_until

HEADERS = ["Day", "Total", "Delivered", "Sent, no report yet", "Bounced", "Complained", "Failed", "Other"]


def test_statistics_draw_the_last_30_days_and_give_the_same_figures_as_a_table(
    page: Page, page_stack: PageStack
) -> None:
    domain = new_domain()
    tok = token(domain)
    ids = page_stack.enqueue(
        email(domain, "ann@example.org", "One"),
        email(domain, "ben@example.org", "Two"),
        email(domain, "bounce@simulator.amazonses.com", "Three"),
        email(domain, "complaint@simulator.amazonses.com", "Four"),
    )
    for job_id, final in zip(ids, ["delivered", "delivered", "bounced", "complained"], strict=True):
        page_stack.wait_for_status(job_id, tok, {final})
    today = datetime.now(UTC).date().isoformat()

    def counted() -> dict[str, Any] | None:
        answer: dict[str, Any] = page_stack.get(f"/stats?domain={domain}", tok).json()
        day = answer["days"][-1]
        wanted = {"delivered": 2, "bounced": 1, "complained": 1}
        return answer if day["day"] == today and all(day["counts"][k] == v for k, v in wanted.items()) else None

    stats: dict[str, Any] = wait_until(counted, 15, interval=0.5, message="GET /stats to count the four emails")

    page.goto(f"{page_stack.api}/?view=stats&domain={domain}#token={tok}")
    chart = page.get_by_role("img", name="Emails per day")
    expect(chart).to_be_visible()
    # Drawn by the page: an <svg> in its own document, one bar group per day
    assert chart.evaluate("node => node.tagName") == "svg"
    expect(chart.locator("g.day")).to_have_count(30)
    expect(chart.locator("desc")).to_contain_text("4 emails over 30 days")
    expect(page.get_by_role("link", name="Statistics")).to_have_attribute("aria-current", "page")

    table = page.get_by_role("table", name="The same figures, day by day (UTC)")
    for header in HEADERS:
        expect(table.get_by_role("columnheader", name=header, exact=True)).to_be_visible()
    body = table.locator("tbody tr")
    expect(body).to_have_count(30)
    # Oldest first, as the chart; today's row last, its figures the API's
    expect(body.first.locator("time")).to_have_attribute("datetime", stats["from"])
    last = body.last
    expect(last.locator("time")).to_have_attribute("datetime", today)
    cells = [text.strip() for text in last.locator("td").all_inner_texts()]
    assert cells == ["4", "2", "0", "1", "1", "0", "0"], cells
    # The other days of this new domain are zero
    assert set(body.first.locator("td").all_inner_texts()) == {"0"}
    # And per type over the 30 days (a list: each column header above names one thing)
    expect(page.get_by_role("list", name="By type over the 30 days").get_by_role("listitem")).to_have_text(
        ["AI follow-up: 4 emails, 2 delivered, 1 bounced, 1 complained, 0 failed"]
    )
    for header in HEADERS:
        expect(page.get_by_role("columnheader", name=header, exact=True)).to_have_count(1)
    screenshot(page, "stats")
    assert axe_violations(page) == []


def test_statistics_of_all_the_callers_domains_sum_them(page: Page, page_stack: PageStack) -> None:
    first, second = new_domain(), new_domain()
    tok = token(first, second)
    ids = page_stack.enqueue(email(first, "a@example.org", "A"), email(second, "b@example.org", "B"))
    for job_id in ids:
        page_stack.wait_for_status(job_id, tok, {"delivered"})
    wait_until(
        lambda: page_stack.get("/stats", tok).json()["days"][-1]["counts"]["delivered"] == 2 or None,
        15,
        interval=0.5,
        message="GET /stats to count both domains",
    )
    page.goto(f"{page_stack.api}/?view=stats#token={tok}")
    expect(page.get_by_role("heading", name="Statistics of all your domains")).to_be_visible()
    last = page.get_by_role("table", name="The same figures, day by day (UTC)").locator("tbody tr").last
    expect(last.locator("td").nth(1)).to_have_text("2")
    # One domain chosen: its figures alone
    page.get_by_role("combobox", name="Domain").select_option(first)
    expect(page.get_by_role("heading", name=f"Statistics of {first}")).to_be_visible()
    expect(last.locator("td").nth(1)).to_have_text("1")
    assert "view=stats" in page.url and f"domain={first}" in page.url
