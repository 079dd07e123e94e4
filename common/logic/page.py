"""The Email Operations page (docs/page.md): the static files of ``web/``,
answered with the headers that keep the page strict.

The files are read once, when the function starts: only a file that was in
the folder then can be answered (no path from a request ever reaches the
file system), and each answer carries a Content-Security-Policy that lets the
page run its own script only, talk to its own origin only, and show an
email's HTML in a sandboxed frame that can neither run script nor load
anything from the network (docs/adr/0027-email-operations-page.md).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

INDEX = "index.html"

CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
_TEXT_SUFFIXES = {".html", ".js", ".css", ".svg"}

# 'unsafe-inline' for styles only: an email's HTML (shown in a srcdoc frame,
# which inherits this policy) is styled inline; the page itself never writes
# markup from data, so no style reaches it from a job. No inline script, no
# eval, no other origin: default-src 'self' covers fetch (connect-src),
# frames and fonts; images are the page's own or data: URLs.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
    # Each deploy's files are seen at once; they are small.
    "cache-control": "no-cache",
}


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    content_type: str

    @property
    def is_text(self) -> bool:
        return Path(self.name).suffix in _TEXT_SUFFIXES

    def response(self) -> dict[str, object]:
        """The payload-2.0 answer for this file."""
        headers = {"content-type": self.content_type, **SECURITY_HEADERS}
        if self.is_text:
            return {"statusCode": 200, "headers": headers, "body": self.body.decode("utf-8")}
        return {
            "statusCode": 200,
            "headers": headers,
            "body": base64.b64encode(self.body).decode("ascii"),
            "isBase64Encoded": True,
        }


class PageAssets:
    """Every file of one folder (not its subfolders) whose kind is known."""

    def __init__(self, folder: Path) -> None:
        self._files: dict[str, Asset] = {}
        for path in sorted(folder.iterdir()):
            content_type = CONTENT_TYPES.get(path.suffix)
            if path.is_file() and content_type is not None:
                self._files[path.name] = Asset(path.name, path.read_bytes(), content_type)
        if INDEX not in self._files:
            raise FileNotFoundError(f"{folder} has no {INDEX}")

    @property
    def names(self) -> list[str]:
        return sorted(self._files)

    def index(self) -> Asset:
        return self._files[INDEX]

    def static(self, name: str) -> Asset | None:
        """The file named, or ``None``: the page is answered at ``/`` only."""
        if name == INDEX:
            return None
        return self._files.get(name)
