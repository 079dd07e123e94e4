// Statistics: the last 30 days of the chosen domain (or of all the caller's)
// from GET /stats, as a chart named "Emails per day" that the page draws
// itself (inline SVG: no script, font or image from anywhere), and the same
// figures as tables (a screen reader reads those; the chart is their picture).

import { $, el, setText } from "./dom.js";
import { TYPES, TYPE_NAMES } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
// The chart's series, bottom to top: each a set of statuses, a word and a class (style.css).
const SERIES = [
  { key: "delivered", word: "Delivered", statuses: ["delivered"] },
  { key: "sent", word: "Sent, no report yet", statuses: ["sent", "delayed"] },
  { key: "bounced", word: "Bounced", statuses: ["bounced"] },
  { key: "complained", word: "Complained", statuses: ["complained"] },
  { key: "failed", word: "Failed", statuses: ["failed"] },
  { key: "other", word: "Other (waiting, suppressed, canceled)", statuses: null },
];
const DAY = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
const SHORT = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });

let page; // app.js's context
let shown = null; // the answer drawn (redrawn when the chart's width changes)
let asked = 0;

export function initStats(context) {
  page = context;
  let width = 0;
  new ResizeObserver(() => {
    const now = $("stats-chart").clientWidth;
    if (shown && now && Math.abs(now - width) > 8) {
      width = now;
      drawChart(shown);
    }
  }).observe($("stats-chart"));
}

function dayOf(iso) {
  return new Date(`${iso}T00:00:00Z`);
}

// The figures of one day (or one type): each series' count and the total.
function figures(entry) {
  const counts = entry.counts || {};
  const out = { total: entry.total || 0 };
  let known = 0;
  for (const series of SERIES) {
    if (!series.statuses) continue;
    out[series.key] = series.statuses.reduce((sum, status) => sum + (counts[status] || 0), 0);
    known += out[series.key];
  }
  out.other = Math.max(0, out.total - known);
  return out;
}

export async function loadStats() {
  const { state } = page;
  const domain = state.filters.domain;
  setText($("stats-title"), domain ? `Statistics of ${domain}` : "Statistics of all your domains");
  setText($("stats-state"), "Loading the statistics…");
  const mine = ++asked;
  let answer;
  try {
    answer = await page.api().stats(domain);
  } catch (error) {
    if (mine !== asked) return;
    setText($("stats-state"), "");
    page.failed(error, "loading the statistics", () => loadStats());
    return;
  }
  if (mine !== asked || domain !== state.filters.domain || state.view.view !== "stats") return;
  shown = answer;
  const days = answer.days || [];
  const total = days.reduce((sum, day) => sum + (day.total || 0), 0);
  setText(
    $("stats-state"),
    `${total} email${total === 1 ? "" : "s"} created from ${DAY.format(dayOf(answer.from))} to ${DAY.format(dayOf(answer.to))} (UTC).`,
  );
  $("stats-content").hidden = false;
  drawChart(answer);
  fillDays(days);
  fillTypes(answer.types || {});
}

export function forgetStats() {
  shown = null;
  asked += 1;
  $("stats-content").hidden = true;
  $("stats-chart").replaceChildren();
  $("stats-days-body").replaceChildren();
  $("stats-types").replaceChildren();
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  node.append(...children);
  return node;
}

// The y axis's step: 1, 2 or 5 times a power of ten, about a quarter of the highest day.
function niceStep(max) {
  if (max <= 4) return 1;
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const step of [1, 2, 5, 10]) if (step * power >= rough) return step * power;
  return 10 * power;
}

function drawChart(answer) {
  const days = answer.days || [];
  const box = $("stats-chart");
  const width = Math.max(300, box.clientWidth || 720);
  const height = 240;
  const margin = { top: 12, right: 8, bottom: 26, left: 40 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const rows = days.map((day) => ({ day: day.day, ...figures(day) }));
  const highest = Math.max(0, ...rows.map((row) => row.total));
  const step = niceStep(highest);
  const top = highest <= 4 ? 4 : step * Math.ceil(highest / step);
  const y = (value) => margin.top + plotH - (value / top) * plotH;
  const slot = plotW / Math.max(1, rows.length);
  const barW = Math.max(2, slot * 0.72);

  const total = rows.reduce((sum, row) => sum + row.total, 0);
  const busiest = rows.reduce((best, row) => (row.total > (best ? best.total : -1) ? row : best), null);
  const description = busiest && busiest.total
    ? `${total} emails over ${rows.length} days; the busiest day was ${DAY.format(dayOf(busiest.day))} with ${busiest.total}. The table below gives every figure.`
    : `No emails over these ${rows.length} days.`;
  const chart = svg("svg", {
    role: "img",
    "aria-labelledby": "stats-chart-title",
    "aria-describedby": "stats-chart-desc",
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    class: "chart-svg",
    focusable: "false",
  });
  chart.append(svg("desc", { id: "stats-chart-desc" }, description));

  // The y axis: a line and a number every step.
  const grid = svg("g", { class: "grid" });
  for (let value = 0; value <= top; value += step) {
    const at = y(value);
    grid.append(
      svg("line", { x1: margin.left, x2: width - margin.right, y1: at, y2: at }),
      svg("text", { x: margin.left - 6, y: at + 4, "text-anchor": "end" }, String(Math.round(value))),
    );
  }
  chart.append(grid);

  const bars = svg("g", { class: "bars" });
  rows.forEach((row, index) => {
    const x = margin.left + index * slot + (slot - barW) / 2;
    const group = svg("g", { class: "day" });
    const parts = SERIES.filter((series) => row[series.key]).map((series) => `${row[series.key]} ${series.word.toLowerCase()}`);
    group.append(svg("title", {}, `${DAY.format(dayOf(row.day))}: ${row.total} email${row.total === 1 ? "" : "s"}${parts.length ? ` (${parts.join(", ")})` : ""}`));
    let base = 0;
    for (const series of SERIES) {
      const value = row[series.key];
      if (!value) continue;
      group.append(svg("rect", { class: `series-${series.key}`, x, width: barW, y: y(base + value), height: Math.max(0.5, y(base) - y(base + value)) }));
      base += value;
    }
    // The whole slot answers the pointer, an empty day too.
    group.append(svg("rect", { class: "hit", x: margin.left + index * slot, width: slot, y: margin.top, height: plotH }));
    bars.append(group);
  });
  chart.append(bars);

  // The x axis: a day every few, so that the labels never collide.
  const axis = svg("g", { class: "axis" });
  const every = Math.max(1, Math.ceil(rows.length / Math.max(1, Math.floor(plotW / 56))));
  rows.forEach((row, index) => {
    if (index % every !== 0 && index !== rows.length - 1) return;
    if (index === rows.length - 1 && index % every !== 0 && index % every < every / 2) return;
    const x = margin.left + index * slot + slot / 2;
    axis.append(svg("text", { x, y: height - 8, "text-anchor": "middle" }, SHORT.format(dayOf(row.day))));
  });
  axis.append(svg("line", { class: "base", x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0) }));
  chart.append(axis);
  box.replaceChildren(chart);

  $("stats-legend").replaceChildren(
    ...SERIES.map((series) => el("li", {}, el("span", { className: `swatch series-${series.key}` }), document.createTextNode(series.word))),
  );
}

function numberCell(value, label) {
  return el("td", { className: "num", "data-label": label, text: String(value) });
}

function fillDays(days) {
  $("stats-days-body").replaceChildren(
    ...days.map((day) => {
      const f = figures(day);
      return el(
        "tr",
        {},
        el("th", { scope: "row" }, el("time", { datetime: day.day, text: DAY.format(dayOf(day.day)) })),
        numberCell(f.total, "Total"),
        numberCell(f.delivered, "Delivered"),
        numberCell(f.sent, "Sent, no report yet"),
        numberCell(f.bounced, "Bounced"),
        numberCell(f.complained, "Complained"),
        numberCell(f.failed, "Failed"),
        numberCell(f.other, "Other"),
      );
    }),
  );
}

// One line per type that has emails in the range (the API lists every type,
// zeros included): a list, not a second table, so that each column header of
// the view ("Delivered", "Bounced", …) names one thing.
function fillTypes(types) {
  const names = [...TYPES, ...Object.keys(types).filter((type) => !TYPES.includes(type))];
  $("stats-types").replaceChildren(
    ...names.filter((type) => types[type] && types[type].total > 0).map((type) => {
      const f = figures(types[type]);
      return el(
        "li",
        { "data-type": type },
        el("strong", { text: `${TYPE_NAMES[type] || type}: ` }),
        document.createTextNode(
          `${f.total} email${f.total === 1 ? "" : "s"}, ${f.delivered} delivered, ${f.bounced} bounced, ${f.complained} complained, ${f.failed} failed`,
        ),
      );
    }),
  );
}
