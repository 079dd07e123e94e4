"""``docs/benchmarks.md`` (and the summary ``make bench`` prints) put together
from the figures' own parts.

Each figure's module (``calls`` … ``fairness``) measures its figure and writes
its section, its rows of the summary and its notes of "Far from the minimum,
and why"; this module only puts them in order, with the run's header, the
printed lines and the JSON summary, and splices one figure measured again
(``python -m benchmarks --figure N``) into a page a full run wrote. Where a
figure quotes another (figure 1 shows figure 6's ``GET /bulks`` poll, figure 4
figure 1's calls per email, figure 7 figure 6's worst write units), the value
is handed to it here: no figure imports another, nor this module.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import (
    calls,
    cancel,
    capacity,
    coldstart,
    drain,
    fairness,
    listing,
    pipeline,
    priority,
    schedule,
    writes,
)
from benchmarks.calls import CallCounts
from benchmarks.cancel import CancelCost
from benchmarks.capacity import CapacityModel
from benchmarks.coldstart import ColdStarts
from benchmarks.cost import CaseUsage, FixedItem
from benchmarks.drain import DrainFigure
from benchmarks.fairness import Fairness
from benchmarks.listing import ListCosts
from benchmarks.page import SummaryRow, table, times
from benchmarks.pipeline import Pipeline
from benchmarks.priority import Priority
from benchmarks.schedule import Schedules
from benchmarks.writes import WriteCases
from local.template import ROOT


@dataclass(frozen=True)
class Machine:
    arch: str
    cpu: str
    cores: int
    python: str
    system: str
    date: str
    commit: str

    @classmethod
    def this_one(cls) -> Machine:
        cpu = platform.processor() or "unknown CPU"
        cpuinfo = Path("/proc/cpuinfo")
        if cpuinfo.exists():
            for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
        except OSError:
            commit = ""
        return cls(
            arch=platform.machine(),
            cpu=cpu,
            cores=os.cpu_count() or 0,
            python=platform.python_version(),
            system=f"{platform.system()} {platform.release()}",
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            commit=commit or "unknown",
        )


@dataclass(frozen=True)
class Results:
    smoke: bool
    machine: Machine
    calls: CallCounts  # figure 1
    cold: ColdStarts  # figure 2
    lists: ListCosts  # figure 3
    pipeline: Pipeline  # figure 4
    priority: Priority  # figure 5
    write_cases: WriteCases  # figure 6: the three cases
    case_costs: list[CaseUsage]  # figure 6: the three cases' cost, every billed item
    capacity: CapacityModel  # figure 7
    cancel: CancelCost | None = None  # figure 8
    fairness: Fairness | None = None  # figure 9
    drain: DrainFigure | None = None  # figure 10
    schedule: Schedules | None = None  # figure 11
    fixed: list[FixedItem] | None = None  # figure 6: what the stack costs by the month


# ---------------------------------------------------------------- summary
def summary_rows(r: Results) -> list[SummaryRow]:
    rows = [
        *calls.summary_rows(r.calls),
        *coldstart.summary_rows(r.cold),
        *listing.summary_rows(r.lists),
        pipeline.summary_row(r.pipeline),
        priority.summary_row(r.priority),
        *writes.summary_rows(r.write_cases, r.case_costs),
        *capacity.summary_rows(r.capacity),
    ]
    if r.cancel is not None:
        rows.append(cancel.summary_row(r.cancel))
    if r.fairness is not None:
        rows.append(fairness.summary_row(r.fairness))
    if r.drain is not None:
        rows += drain.summary_rows(r.drain)
    if r.schedule is not None:
        rows += schedule.summary_rows(r.schedule)
    return rows


def printed_lines(r: Results) -> list[str]:
    """The summary block's lines, each figure's own (issues #9, #28 and #29's exact wording)."""
    return [
        calls.printed_line(r.calls),
        writes.printed_line(r.case_costs),
        coldstart.printed_line(r.cold),
        drain.printed_line(r.drain) if r.drain is not None else f"{drain.HEADLINE}: not measured",
        listing.printed_line(r.lists),
        schedule.printed_line(r.schedule) if r.schedule is not None else f"{schedule.HEADLINE}: not measured",
        *capacity.printed_lines(r.write_cases.worst.wru_per_email, r.capacity),
    ]


def summary_table(r: Results) -> str:
    return table(
        ["figure", "what", "measured", "minimum / reference", "ratio"],
        [[row.figure, row.what, row.measured, row.reference, times(row.ratio)] for row in summary_rows(r)],
    )


FAR_HEADING = "## Far from the minimum, and why"


def _far_section(r: Results) -> str:
    """Each figure far from its minimum or target, and why."""
    notes = [
        *calls.notes(r.calls),
        *coldstart.notes(r.cold),
        *listing.notes(r.lists),
        *pipeline.notes(r.pipeline),
        *priority.notes(r.priority),
        *writes.notes(r.write_cases, r.case_costs),
        *capacity.notes(r.capacity),
        *(drain.notes(r.drain) if r.drain is not None else []),
        *(schedule.notes(r.schedule) if r.schedule is not None else []),
    ]
    return "\n".join([FAR_HEADING, "", *notes, ""])


# ---------------------------------------------------------------- the page
def _sections(r: Results) -> list[str]:
    """Each figure's section, in the figures' order."""
    bulk = r.write_cases.cases[-1] if r.write_cases.cases else None
    poll = bulk.poll if bulk is not None else None
    sections = [
        calls.section(
            r.calls,
            poll=poll.calls if poll is not None else None,
            poll_read_units=poll.read_units if poll is not None else 0.0,
            bulk_emails=bulk.emails if bulk is not None else 0,
        ),
        coldstart.section(r.cold),
        listing.section(r.lists),
        pipeline.section(r.pipeline, calls_per_email=calls.per_email_of_bulk(r.calls)),
        priority.section(r.priority),
        writes.section(
            r.write_cases,
            r.case_costs,
            fixed=r.fixed or [],
            worker_source=_worker_source(r.drain),
        ),
        capacity.section(r.capacity, worst_wru=r.write_cases.worst.wru_per_email),
    ]
    if r.cancel is not None:
        sections.append(cancel.section(r.cancel))
    if r.fairness is not None:
        sections.append(fairness.section(r.fairness))
    if r.drain is not None:
        sections.append(drain.section(r.drain))
    if r.schedule is not None:
        sections.append(schedule.section(r.schedule))
    return sections


def _worker_source(figure: DrainFigure | None) -> str:
    """Where figure 6's bulk worker time comes from (figure 10's drain), in words."""
    if figure is None:
        return ""
    d = figure.drain
    return (
        f"{1000 * d.worker_seconds_per_email:,.0f} ms per email, a bulk send of {d.emails:,} drained at"
        f" {d.rate:g} emails a second"
    )


def render(r: Results) -> str:
    m = r.machine
    header = [
        "# Benchmarks",
        "",
        "`make bench` writes this page: it starts a local stack (docs/local-stack.md) on free ports of",
        "127.0.0.1, measures, and prints the summary below. Figures from another machine, or another run,",
        "differ in time but not in counts.",
        "",
        table(
            ["run", ""],
            [
                ["date", m.date],
                ["machine", f"{m.arch}, {m.cpu}, {m.cores} cores, {m.system}"],
                ["Python", m.python],
                ["commit", m.commit],
            ],
        ),
        "",
        "## Summary",
        "",
        summary_table(r),
        "",
        "```",
        *printed_lines(r),
        "```",
        "",
        _far_section(r),
        "The embedded AWS is moto, run in the benchmarks' process with three speed-ups of its SQS",
        "(local/motofix.py, which `make run` applies too: it scanned every message of a queue, several",
        "times, for each message sent or received). Counts do not depend on them; throughput is compared",
        "with a ceiling measured on the same embedded AWS.",
        "",
    ]
    return "\n".join(header) + "\n" + "\n".join(_sections(r))


def summary_json(r: Results) -> dict[str, Any]:
    return {
        "smoke": r.smoke,
        "machine": r.machine.__dict__,
        "summary": [row.as_dict() for row in summary_rows(r)],
        "calls": [
            {
                "case": case.name,
                "emails": case.emails,
                "calls": {f"{k[0]}:{k[1]}": v for k, v in case.calls.items()},
                "counted": calls.counted(case.calls),
                "minimum": case.total_minimum,
            }
            for case in r.calls.cases
        ],
        "printed": printed_lines(r),
        "cancel": None if r.cancel is None else r.cancel.__dict__,
        "lists": [
            {
                "caller": row.caller,
                "filters": row.filters,
                "pages": row.pages,
                "most_requests": row.most_requests,
                "requests": row.requests,
                "items_read": row.items_read,
                "items_returned": row.items_returned,
                "items_per_row": row.items_per_row,
                "error": row.error,
            }
            for row in r.lists.rows
        ],
        "poll": (
            {"calls": r.write_cases.cases[-1].poll.calls, "read_units": r.write_cases.cases[-1].poll.read_units}
            if r.write_cases.cases and r.write_cases.cases[-1].poll
            else None
        ),
        "writes": [
            {
                "case": case.name,
                "emails": case.emails,
                "wru_per_email": case.wru_per_email,
                "rru_per_email": case.rru_per_email,
                "s3_puts": case.s3_puts,
                "s3_gets": case.s3_gets,
                "by_step": case.by_step(),
            }
            for case in r.write_cases.cases
        ],
        "cost": [
            {"case": c.name, "costs": c.costs(), "ratio_to_ses": c.ratio_to_ses, "usage": dataclasses.asdict(c)}
            for c in r.case_costs
        ],
        "cold": [
            {
                "function": c.function,
                "import_ms": c.median_ms,
                "invoke_ms": c.invoke_ms,
                "floor_ms": c.floor_ms,
                "clients": list(c.clients),
                "ratio_to_floor": c.ratio_to_floor,
                "calls": c.calls,
                "calls_ms": c.calls_ms,
                "operations": dict(c.operations),
                "ratio_without_calls": c.ratio_without_calls,
                "error": c.error,
            }
            for c in r.cold.functions
        ],
        "drain": dataclasses.asdict(r.drain) if r.drain is not None else None,
        "to_delivered": (
            {
                "emails": found.emails,
                "per_email": found.per_email,
                "sending_path": found.sending_path,
                "event_path": found.event_path,
                "minimum": found.minimum,
                "request": {f"{k[0]}:{k[1]}": v for k, v in found.request.items()},
                "worker": {f"{k[0]}:{k[1]}": v for k, v in found.worker.items()},
                "events": {f"{k[0]}:{k[1]}": v for k, v in found.events.items()},
            }
            if (found := r.calls.to_delivered) is not None
            else None
        ),
        "capacity": {
            "loads": {c.index: c.units for c in r.capacity.loads},
            "all_domains": r.capacity.platform.emails_per_second,
            "one_domain": r.capacity.one_domain.emails_per_second,
            "one_bulk": r.capacity.per_bulk.emails_per_second,
            "one_address": r.capacity.per_address,
            "hottest": [list(h) for h in r.capacity.platform.hottest],
            "poll_read_units": r.capacity.poll_read_units,
            "at_default_quotas": r.capacity.at_default_quotas,
            "quota_ceilings": [dataclasses.asdict(c) for c in r.capacity.quota_ceilings],
            "retry_attempts_per_second": r.capacity.retry.attempts_per_second,
            "objects": {o.index: o.units for o in r.capacity.objects},
        },
        "fairness": r.fairness.as_dict() if r.fairness is not None else None,
        "worker": {
            "emails": r.calls.worker.emails,
            "calls": {f"{k[0]}:{k[1]}": v for k, v in r.calls.worker.calls.items()},
            "counted": r.calls.worker.counted,
            "minimum": calls.total(r.calls.worker.needs),
        },
        "ses_events": {
            "emails": r.calls.events.emails,
            "calls": {f"{k[0]}:{k[1]}": v for k, v in r.calls.events.calls.items()},
            "counted": r.calls.events.counted,
            "minimum": calls.total(r.calls.events.needs),
            "not_ours": {f"{k[0]}:{k[1]}": v for k, v in r.calls.events.not_ours.items()},
        },
    }


# ---------------------------------------------------------------- one figure measured again
def _splice_figure(
    page: str,
    *,
    figure: str,
    rows: list[SummaryRow],
    own_notes: tuple[str, ...],
    notes: list[str],
    notes_before: tuple[str, ...],
    section: str,
    printed: Sequence[str] = (),
) -> str:
    """``page`` (docs/benchmarks.md as a full run wrote it) with one figure
    measured again: its summary rows (``| <figure> |``), its printed lines
    (each replacing the line that starts with the same words before ``: ``),
    its notes (lines starting with ``own_notes``, put back before the first note
    starting with ``notes_before``, or after the last note) and its section
    (``## <figure>`` up to the next ``## ``) replaced by the new ones; the rest
    kept. A figure the page does not hold yet goes after the others."""
    lines = page.split("\n")
    table = [f"| {row.figure} | {row.what} | {row.measured} | {row.reference} | {times(row.ratio)} |" for row in rows]
    ours = [i for i, line in enumerate(lines) if line.startswith(f"| {figure} |")]
    if ours:
        at = ours[0]
    else:
        # The summary table's rows: "| <n>. <figure> |" (a section's table may start with a number too).
        summary = [i for i, line in enumerate(lines) if re.match(r"\| \d+\. [^|]+ \|", line)]
        at = summary[-1] + 1 if summary else len(lines)
    lines = [line for line in lines if not line.startswith(f"| {figure} |")]
    lines[at:at] = table
    for line in printed:
        head = line.split(": ", 1)[0] + ": "
        lines = [line if old.startswith(head) else old for old in lines]
    lines = _splice_notes(lines, own=own_notes, notes=notes, before=notes_before)
    text = "\n".join(lines)
    heading = f"## {figure}"
    if heading not in text:
        return text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    if end < 0:
        return text[:start] + section.rstrip("\n") + "\n"
    return text[:start] + section.rstrip("\n") + "\n" + text[end:]


def _splice_notes(lines: list[str], *, own: tuple[str, ...], notes: list[str], before: tuple[str, ...]) -> list[str]:
    """The notes of "Far from the minimum, and why" (the list under its heading, else the page's first
    list of notes) with those
    starting with ``own`` replaced by ``notes``, put before the first starting with ``before``
    (or last)."""
    if FAR_HEADING in lines:
        start = lines.index(FAR_HEADING) + 1
        while start < len(lines) and not lines[start].strip():
            start += 1
    else:  # a page without the heading: its first list of notes
        start = next((i for i, line in enumerate(lines) if line.startswith("- **")), len(lines))
    end = start
    while end < len(lines) and lines[end].startswith("- "):
        end += 1
    kept = [line for line in lines[start:end] if not line.startswith(own)]
    at = next((i for i, line in enumerate(kept) if before and line.startswith(before)), len(kept))
    kept[at:at] = notes
    return lines[:start] + kept + lines[end:]


def splice_list_figure(page: str, lists: ListCosts, remark: str = "") -> str:
    """``page`` with figure 3 measured again (``_splice_figure``), its section followed by ``remark``."""
    return _splice_figure(
        page,
        figure="3. List cost",
        rows=listing.summary_rows(lists),
        own_notes=("- **List cost**", "- **List pages that failed**"),
        notes=listing.notes(lists),
        notes_before=("- **Pipeline**",),
        section=listing.section(lists).rstrip("\n") + ("\n\n" + remark if remark else ""),
        printed=[listing.printed_line(lists)],
    )


def splice_cold_figure(page: str, cold_starts: ColdStarts, remark: str = "") -> str:
    """``page`` with figure 2 measured again (``_splice_figure``), its section followed by ``remark``."""
    return _splice_figure(
        page,
        figure="2. Cold start",
        rows=coldstart.summary_rows(cold_starts),
        own_notes=("- **Cold start",),
        notes=coldstart.notes(cold_starts),
        notes_before=("- **List", "- **Pipeline**"),
        section=coldstart.section(cold_starts).rstrip("\n") + ("\n\n" + remark if remark else ""),
        printed=[coldstart.printed_line(cold_starts)],
    )


def splice_drain_figure(page: str, figure: DrainFigure, remark: str = "") -> str:
    """``page`` with figure 10 measured again (``_splice_figure``), its section followed by ``remark``.
    Figure 6 prices the bulk worker's time from it: re-run the whole page to carry that over."""
    return _splice_figure(
        page,
        figure="10. Drain",
        rows=drain.summary_rows(figure),
        own_notes=("- **Drain**", "- **Sweeper**"),
        notes=drain.notes(figure),
        notes_before=(),
        section=drain.section(figure).rstrip("\n") + ("\n\n" + remark if remark else ""),
        printed=[drain.printed_line(figure)],
    )


def splice_schedule_figure(page: str, figure: Schedules, remark: str = "") -> str:
    """``page`` with figure 11 measured again (``_splice_figure``); its printed line
    goes at the end of the summary block when the page has none yet."""
    spliced = _splice_figure(
        page,
        figure=schedule.FIGURE,
        rows=schedule.summary_rows(figure),
        own_notes=("- **Scheduled sends**",),
        notes=schedule.notes(figure),
        notes_before=(),
        section=schedule.section(figure).rstrip("\n") + ("\n\n" + remark if remark else ""),
        printed=[schedule.printed_line(figure)],
    )
    line = schedule.printed_line(figure)
    lines = spliced.split("\n")
    if line in lines:
        return spliced
    # A page written before figure 11: its line after the list cost's, as printed_lines puts it.
    heads = [i for i, old in enumerate(lines) if old.startswith("list requests per page, worst combination: ")]
    if not heads:
        return spliced
    lines[heads[0] + 1 : heads[0] + 1] = [line]
    return "\n".join(lines)
