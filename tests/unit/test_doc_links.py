"""The documentation's links cannot rot: every markdown link of README.md and docs/
reaches a file that exists and, with a ``#fragment``, a heading of that file; every
``docs/….md`` the code names exists; every decision record has the sections of
docs/adr/README.md and is in its index (docs/adr/0043-markdown-links-checked.md).

Markdown is parsed with markdown-it-py (CommonMark), so a link inside code is no
link and a ``#`` line inside a fenced block is no heading, as GitHub renders them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from tests.helpers import ROOT

DOCS = ROOT / "docs"
ADR = DOCS / "adr"
_PARSER = MarkdownIt("commonmark").enable("table")
# Folders that hold no project file: environments, builds, caches, node packages.
_SKIPPED_DIRS = {"node_modules", "test-output", "__pycache__"}
_SOURCE_SUFFIXES = {".py", ".yaml", ".yml", ".toml", ".js", ".html", ".css", ".md"}
_DOCS_MENTION = re.compile(r"(?<![\w/.-])docs/[\w/.-]*?\.md\b")
_ADR_NAME = re.compile(r"^(\d{4})-[a-z0-9]+(?:-[a-z0-9]+)*\.md$")
ADR_SECTIONS = ["Status", "Context", "Decision", "Consequences"]


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


@cache
def tokens(path: Path) -> list[Token]:
    return _PARSER.parse(path.read_text(encoding="utf-8"))


def _walk(items: list[Token]) -> Iterator[Token]:
    for token in items:
        yield token
        if token.children:
            yield from _walk(token.children)


def _text(inline: Token) -> str:
    """What a heading shows: its text and code, without markup."""
    return "".join(child.content for child in inline.children or [] if child.type in {"text", "code_inline"})


def slug(text: str) -> str:
    """GitHub's anchor for a heading (github-slugger): lower case, punctuation
    dropped (letters, digits, ``-`` and ``_`` kept), each space a hyphen."""
    return "".join(ch for ch in text.lower() if ch.isalnum() or ch in "-_ ").replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """The anchors GitHub makes for ``path``'s headings (a repeated one gets ``-1``, ``-2``…)."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    items = tokens(path)
    for n, token in enumerate(items):
        if token.type != "heading_open":
            continue
        base = slug(_text(items[n + 1]))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def links(path: Path) -> list[str]:
    """Every link and image target of ``path``, as written."""
    targets = []
    for token in _walk(tokens(path)):
        if token.type == "link_open":
            targets.append(str(token.attrGet("href") or ""))
        elif token.type == "image":
            targets.append(str(token.attrGet("src") or ""))
    return targets


def broken_links(path: Path) -> list[str]:
    """The links of ``path`` to a missing file or a missing heading, each with why."""
    broken = []
    for target in links(path):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:  # https:, mailto:: not this repository's
            continue
        linked = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif parts.fragment and linked.suffix == ".md" and unquote(parts.fragment) not in anchors(linked):
            broken.append(f"{target}: no such heading")
    return broken


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_reaches_an_existing_file_and_heading(path: Path) -> None:
    assert broken_links(path) == []


def test_the_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    """The check itself: what it must refuse, and what it must accept."""
    (tmp_path / "other.md").write_text(
        "# Other\n\n## SES's events\n\n## `GET /jobs`: the log\n\n## Twice\n\n## Twice\n"
    )
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](other.md) [ok](other.md#sess-events) [ok](other.md#get-jobs-the-log) [ok](other.md#twice-1)\n"
        "[ok](#page) [ok](https://example.com/missing.md) `[in code](missing.md)`\n\n"
        "```\n[in a fence](missing.md)\n```\n\n"
        "[gone](missing.md) [no heading](other.md#nowhere) ![gone](missing.png) [no anchor](#nowhere)\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nowhere: no such heading",
        "missing.png: no such file",
        "#nowhere: no such heading",
    ]


def source_files() -> Iterator[Path]:
    """The project's own text files: what ``git ls-files`` would list, without git."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        for name in sorted(files):
            path = Path(folder) / name
            if path.suffix in _SOURCE_SUFFIXES or name == "Makefile":
                yield path


def test_every_docs_page_the_project_names_exists() -> None:
    """``(docs/<page>.md, "<heading>")`` in a comment is a link too, one no markdown
    renderer checks: a page named in code, a docstring or a doc must exist."""
    missing = [
        f"{path.relative_to(ROOT)}: {mention}"
        for path in source_files()
        for mention in sorted(set(_DOCS_MENTION.findall(path.read_text(encoding="utf-8", errors="replace"))))
        if "NNNN" not in mention and not (ROOT / mention).is_file()  # NNNN: a record's placeholder
    ]
    assert missing == []


def adr_files() -> list[Path]:
    return sorted(path for path in ADR.glob("*.md") if path.name != "README.md")


def _sections(path: Path) -> tuple[list[str], list[str]]:
    """The texts of ``path``'s level-1 and level-2 headings, in order."""
    items = tokens(path)
    titles: list[str] = []
    sections: list[str] = []
    for n, token in enumerate(items):
        if token.type == "heading_open" and token.tag in {"h1", "h2"}:
            (titles if token.tag == "h1" else sections).append(_text(items[n + 1]))
    return titles, sections


def _status(path: Path) -> list[Token]:
    """The tokens of the record's Status section (up to the next heading)."""
    items = tokens(path)
    start = next(n for n, t in enumerate(items) if t.type == "heading_open" and _text(items[n + 1]) == "Status")
    end = next(n for n in range(start + 3, len(items)) if items[n].type == "heading_open")
    return items[start + 3 : end]


def test_there_are_decision_records() -> None:
    assert len(adr_files()) >= 30


@pytest.mark.parametrize("path", adr_files(), ids=lambda p: p.name)
def test_a_decision_record_has_one_title_and_the_four_sections_in_order(path: Path) -> None:
    assert _ADR_NAME.match(path.name), "NNNN-kebab-case-slug.md"
    titles, sections = _sections(path)
    assert len(titles) == 1
    assert sections == ADR_SECTIONS


@pytest.mark.parametrize("path", adr_files(), ids=lambda p: p.name)
def test_a_superseded_record_links_its_successor(path: Path) -> None:
    status = _status(path)
    text = " ".join(t.content for t in status if t.type == "inline")
    successors = [str(t.attrGet("href")) for t in _walk(status) if t.type == "link_open"]
    assert text.strip(), "the Status section says Accepted or Superseded"
    if "superseded" in text.lower():
        assert any(_ADR_NAME.match(Path(href).name) for href in successors), "Superseded by [NNNN](NNNN-….md)"


def test_the_index_lists_every_record_once_and_numbers_are_unique() -> None:
    listed = [Path(href).name for href in links(ADR / "README.md") if _ADR_NAME.match(Path(href).name)]
    names = [path.name for path in adr_files()]
    numbers = [name[:4] for name in names]
    assert len(set(numbers)) == len(numbers)
    assert sorted(set(listed)) == names
