"""What every figure's part of ``docs/benchmarks.md`` is written with: its rows
of the summary table, Markdown tables, and the way numbers and ratios read.

A figure's module (``calls`` … ``fairness``) writes its own section, summary
rows and notes with these; ``benchmarks.report`` puts the figures' parts
together into the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SummaryRow:
    """One row of the page's summary table (and of ``make bench``'s printed one)."""

    figure: str
    what: str
    measured: str
    reference: str
    ratio: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "what": self.what,
            "measured": self.measured,
            "reference": self.reference,
            "ratio": self.ratio,
        }


def times(value: float | None) -> str:
    """A ratio: ``1.40x``, or ``—`` where there is none."""
    return "—" if value is None else f"{value:.2f}x"


def number(value: float) -> str:
    """A count as a whole number with thousands separators, anything else to two decimals."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
