"""``python -m benchmarks --figure N``: one figure measured alone and put in the
page in place of its old parts, the rest of the page as it was. Figure 3 in its
smallest form (one stack, under a minute) stands for every figure: they share
one runner, and differ only in what they measure, splice and print."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "benchmarks.md"


def _sections(page: str) -> dict[str, str]:
    """The page's ``## `` sections by title."""
    parts = re.split(r"^(## .*)$", page, flags=re.MULTILINE)
    return {title: body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_one_figure_alone_replaces_its_own_parts_of_the_page_and_nothing_else(tmp_path) -> None:
    # Given a copy of the page, its list figure replaced by a marker
    before = _sections(PAGE.read_text(encoding="utf-8"))
    title = "## 3. List cost"
    output = tmp_path / "benchmarks.md"
    output.write_text(
        PAGE.read_text(encoding="utf-8").replace(before[title], "\nMARKER: the old figure 3\n\n"), encoding="utf-8"
    )
    # When figure 3 alone is measured into it
    run = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "benchmarks", "--figure", "3", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # Then it prints its line, and the page has a measured figure 3 in place of the marker
    assert run.returncode == 0, run.stderr[-2000:]
    assert re.search(r"^list requests per page, worst combination: \d+$", run.stdout, re.MULTILINE), run.stdout
    after = _sections(output.read_text(encoding="utf-8"))
    assert "MARKER" not in after[title]
    assert "200 jobs over two domains" in after[title]  # the smoke size, measured now
    assert "measured again alone (`python -m benchmarks --figure 3`)" in output.read_text(encoding="utf-8")
    # And every other section but the summary (its figure 3 rows) and the notes is as it was
    untouched = set(before) - {title, "## Summary", "## Far from the minimum, and why"}
    assert {t: after[t] for t in untouched} == {t: before[t] for t in untouched}
    summary_lines = set(after["## Summary"].splitlines()) ^ set(before["## Summary"].splitlines())
    assert summary_lines, "the summary's figure 3 rows were not replaced"
    assert all("List cost" in line or "list requests" in line for line in summary_lines), summary_lines
