"""An opened email's HTML reaches nothing: no request, no DNS look-up, no
connection of any kind (issue #31, item 8; docs/page.md, "One email").

Chromium opens a TCP connection to an ``<iframe src>``'s host before the
frame's policy blocks it (a preconnect), and does the same for a link with a
target, ``<link rel=preconnect>`` and others: a sender would learn when, and
from where, an admin opened the email. The page rebuilds the HTML without any
of that (web/preview.js) before it enters the sandboxed frame.

Each way an email could reach out is written twice: towards a host name of
its own (``<vector>.probe.test``: a DNS look-up would name it) and towards a
listener on this machine that counts every TCP connection it accepts. Two
witnesses: the listener, and Chromium's own net log, which records every URL
the network stack is asked for (pre-connects included), every host it
resolves and every address it connects to."""

from __future__ import annotations

import contextlib
import html
import re
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Playwright, expect

from tests.browser.conftest import (
    Listener,
    NetLog,
    PageStack,
    email,
    launch_with_net_log,
    new_domain,
    screenshot,
    token,
)

# Each vector with {url} where the email points.
VECTORS: dict[str, str] = {
    "iframe": '<iframe src="{url}"></iframe>',
    "iframe-srcdoc": '<iframe srcdoc="<img src=&quot;{url}&quot;>"></iframe>',
    "object": '<object data="{url}" type="text/html"></object>',
    "embed": '<embed src="{url}" type="text/html">',
    "link-self": '<a id="v-link-self" href="{url}" target="_self">open here</a>',
    "link-top": '<a id="v-link-top" href="{url}" target="_top">open on top</a>',
    "link-blank": '<a id="v-link-blank" href="{url}" target="_blank">open in a new tab</a>',
    "link-plain": '<a id="v-link-plain" href="{url}">a plain link</a>',
    "area": '<img usemap="#m" alt="map">'
    '<map name="m"><area id="v-area" shape="rect" coords="0,0,80,80" href="{url}"></map>',
    "ping": '<a id="v-ping" href="#here" ping="{url}">a link that pings</a>',
    "preconnect": '<link rel="preconnect" href="{url}">',
    "dns-prefetch": '<link rel="dns-prefetch" href="{url}">',
    "prefetch": '<link rel="prefetch" href="{url}">',
    "preload": '<link rel="preload" as="image" href="{url}">',
    "modulepreload": '<link rel="modulepreload" href="{url}">',
    "stylesheet": '<link rel="stylesheet" href="{url}">',
    "speculation": '<script type="speculationrules">{{"prefetch": [{{"source": "list", "urls": ["{url}"]}}]}}</script>',
    "css-import": '<style>@import url("{url}");</style>',
    "css-background": "<div style=\"background-image: url('{url}')\">a background</div>",
    "css-escaped": "<style>.escaped {{ background: \\75 rl({url}) }}</style><p class=escaped>escaped</p>",
    "css-variable": "<style>.var {{ --v: url({url}); background-image: var(--v) }}</style><p class=var>var</p>",
    "css-font": '<style>@font-face {{ font-family: Far; src: url("{url}") }} .far {{ font-family: Far }}</style>'
    '<p class="far">a remote font</p>',
    "css-content": '<style>.content::before {{ content: url("{url}") }}</style><p class="content">content</p>',
    "css-cursor": '<p style="cursor: url({url}), auto">a cursor</p>',
    "meta-refresh": '<meta http-equiv="refresh" content="0;url={url}">',
    "base": '<base href="{url}"><img src="relative.png" alt="relative">',
    "img": '<img src="{url}" alt="a pixel">',
    "srcset": '<img srcset="{url} 2x" alt="srcset">',
    "picture": '<picture><source srcset="{url}"><img alt="picture"></picture>',
    "input-image": '<input type="image" src="{url}" alt="input">',
    "video": '<video poster="{url}" src="{url}" autoplay></video>',
    "audio": '<audio src="{url}" autoplay></audio>',
    "svg-image": '<svg width="10" height="10"><image href="{url}" width="10" height="10"/></svg>',
    "svg-use": '<svg width="10" height="10"><use href="{url}#x"/></svg>',
    "background-attribute": '<table background="{url}"><tr><td>a table</td></tr></table>',
    "form": '<form action="{url}"><button id="v-form">send the form</button></form>',
    "shadow-root": '<div><template shadowrootmode="open"><img src="{url}" alt="shadow"></template></div>',
    "attribution": '<img attributionsrc="{url}" alt="attribution">',
}


def hostile_email(listener: Listener) -> str:
    parts = ["<p>Hello Maria, here is <b>what we covered</b>.</p>"]
    for name, markup in VECTORS.items():
        for url in (f"http://{name}.probe.test/{name}", f"{listener.origin}/{name}"):
            parts.append(markup.format(url=html.escape(url) if "srcdoc" in name else url))
    return "".join(parts)


def open_the_email(page: Page, stack: PageStack, listener: Listener) -> str:
    domain = new_domain()
    [job_id] = stack.enqueue(
        email(domain, "maria@example.org", "Every way out", body_text="Hello Maria.", body_html=hostile_email(listener))
    )
    page.goto(stack.url(token(domain)))
    row = page.locator(f"#log-body tr.job[data-job-id='{job_id}']")
    row.get_by_role("button", name="Show body").click()
    frame = page.frame_locator(f"#detail-{job_id} iframe")
    # The email is still there to read, links as text with their address in a tooltip
    expect(frame.get_by_text("Hello Maria")).to_be_visible()
    expect(frame.get_by_text("open here").first).to_have_attribute(
        "title", re.compile("^Link to http://link-self.probe.test/")
    )
    # Everything an admin does with a link: point at it, press on it, click it
    for target in ("#v-link-self", "#v-link-top", "#v-link-blank", "#v-link-plain", "#v-ping", "#v-form"):
        found = frame.locator(target)
        for i in range(found.count()):
            # A frame that navigated away (it must not) has nothing left to click: the checks below say so.
            with contextlib.suppress(PlaywrightError):
                found.nth(i).hover(timeout=2000)
                found.nth(i).click(timeout=2000)
    page.wait_for_timeout(2000)
    return job_id


def test_the_preview_reaches_no_listener_and_chromiums_net_log_names_nothing(
    playwright: Playwright, page_stack: PageStack, listener: Listener, tmp_path: Path
) -> None:
    log = tmp_path / "netlog.json"
    browser = launch_with_net_log(playwright, log)
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        job_id = open_the_email(page, page_stack, listener)
        # The frame never navigated away (meta refresh, a link, the form)
        [frame] = [each for each in page.frames if each.parent_frame is not None]
        assert frame.url == "about:srcdoc"
        screenshot(page, "preview-hostile")
        context.close()
    finally:
        browser.close()

    # The listener: no connection at all, not even one without a request
    assert listener.connections == 0, f"{listener.connections} connection(s), requests: {listener.hits}"
    assert listener.hits == []

    net = NetLog.read(log)
    api = page_stack.api.removeprefix("http://")
    listener_port = listener.origin.rsplit(":", 1)[1]
    # Chromium's network stack was never asked for any of them: no request, no pre-connect, no look-up
    named = sorted(
        {name for name in VECTORS if f"{name}.probe.test" in net.text or f"{listener.origin}/{name}" in net.text}
    )
    assert named == [], f"the net log names these vectors: {named}"
    assert "probe.test" not in net.text
    assert f":{listener_port}" not in net.text
    assert not [host for host in net.hosts if "probe" in host]
    # Its only connections: the page's own origin, and the port Chromium's own fetchers were sent to (QUIET_ARGS)
    assert set(net.connects) <= {api, "127.0.0.1:9"}, net.connects
    assert api in net.connects  # the log reads connections: the page's own are there
    assert any(f"/jobs/{job_id}" in url for url in net.urls)  # ... and its requests


def test_the_witnesses_see_what_a_raw_frame_would_do(
    playwright: Playwright, page_stack: PageStack, listener: Listener, tmp_path: Path
) -> None:
    """The same email in a frame as the page drew it before (sandbox and policy
    only, no rebuilding): the listener and the net log do see it. So the test
    above can fail, and both witnesses work."""
    log = tmp_path / "netlog.json"
    browser = launch_with_net_log(playwright, log)
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(page_stack.url())
        policy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:"
        raw = f'<meta http-equiv="Content-Security-Policy" content="{policy}">' + hostile_email(listener)
        page.evaluate(
            """raw => { const frame = document.createElement("iframe");
                        frame.setAttribute("sandbox", ""); frame.srcdoc = raw; document.body.append(frame); }""",
            raw,
        )
        page.wait_for_timeout(2500)
        context.close()
    finally:
        browser.close()
    net = NetLog.read(log)
    assert listener.connections > 0
    assert "iframe.probe.test" in net.text
    assert any(url.startswith(f"{listener.origin}/iframe") for url in net.urls)
