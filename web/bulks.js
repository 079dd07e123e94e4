// Bulk sends: the chosen domain's bulk sends (GET /bulks), newest first, each
// with its progress by status, live while it drains; Cancel remaining (POST
// /bulks/{bulk_id}/cancel) on one that still has emails to send; a link to
// its emails in the log (the log filtered by bulk_id). With `bulk=` in the
// address, that one bulk send alone (GET /bulks/{bulk_id}).

import { ApiError } from "./api.js";
import { $, el, idWithCopy, setText } from "./dom.js";
import { STATUSES, UNSENT, timeElement } from "./format.js";

const POLL_MS = 3000;
// What Cancel remaining stops (a worker that holds an email finishes it).
const CANCELABLE = ["scheduled", "queued", "retrying"];

let page; // app.js's context
const list = { cursor: null, previous: [], next: null, rows: new Map(), timer: null, asked: 0 };

export function initBulks(context) {
  page = context;
  $("bulks-next").addEventListener("click", () => {
    list.previous.push(list.cursor);
    list.cursor = list.next;
    loadBulks({ keepPage: true }).then(() => $("bulks-title").focus());
  });
  $("bulks-first").addEventListener("click", () => {
    list.previous = [];
    list.cursor = null;
    loadBulks({ keepPage: true }).then(() => $("bulks-title").focus());
  });
  $("bulks-filter-clear").addEventListener("click", () => page.navigate({ ...page.state.view, bulk: "" }));
}

export function stopBulks() {
  clearTimeout(list.timer);
  list.timer = null;
}

export function forgetBulks() {
  stopBulks();
  list.rows.clear();
  $("bulks-body").replaceChildren();
}

function counted(bulk, statuses) {
  return statuses.reduce((sum, status) => sum + ((bulk.counts || {})[status] || 0), 0);
}

// keepPage: the same page of the list (paging, a refresh); else its first page.
export async function loadBulks({ keepPage = false, quiet = false } = {}) {
  stopBulks();
  const { state } = page;
  const domain = state.filters.domain;
  const only = state.view.bulk;
  setText($("bulks-title"), domain ? `Bulk sends of ${domain}` : "Bulk sends");
  $("bulks-filter").hidden = !only;
  if (only) setText($("bulks-filter-text"), `Showing bulk send ${only} alone.`);
  if (!domain) {
    forgetBulks();
    $("bulks-wrap").hidden = true;
    $("bulks-next").hidden = true;
    $("bulks-first").hidden = true;
    setText($("bulks-state"), "Choose a domain above to see its bulk sends.");
    return;
  }
  if (!keepPage) {
    list.cursor = null;
    list.previous = [];
  }
  if (!quiet) setText($("bulks-state"), "Loading the bulk sends…");
  const asked = ++list.asked;
  const api = page.api();
  let items;
  let next = null;
  try {
    if (only) {
      const bulk = await api.bulk(only);
      items = bulk.domain === domain ? [bulk] : [];
    } else {
      const answer = await api.bulks(domain, list.cursor);
      items = answer.items || [];
      next = answer.next_cursor || null;
    }
  } catch (error) {
    if (asked !== list.asked) return;
    if (only && error instanceof ApiError && error.status === 404) {
      items = [];
    } else {
      setText($("bulks-state"), "");
      page.failed(error, "loading the bulk sends", () => loadBulks({ keepPage: true }));
      return;
    }
  }
  if (asked !== list.asked || api !== page.api() || domain !== state.filters.domain || state.view.view !== "bulks") return;
  list.next = next;
  render(domain, items);
  $("bulks-next").hidden = !next;
  $("bulks-first").hidden = list.previous.length === 0;
  $("bulks-wrap").hidden = items.length === 0;
  const text =
    items.length === 0
      ? only
        ? `No bulk send ${only} among ${domain}'s.`
        : `No bulk sends yet for ${domain}.`
      : `${items.length} bulk send${items.length === 1 ? "" : "s"}, newest first${list.previous.length ? ` (page ${list.previous.length + 1})` : ""}.`;
  setText($("bulks-state"), text);
  // Live while one of them drains.
  if (items.some((bulk) => counted(bulk, UNSENT) > 0)) {
    list.timer = setTimeout(() => loadBulks({ keepPage: true, quiet: true }), POLL_MS);
  }
}

function render(domain, items) {
  const tbody = $("bulks-body");
  const wanted = [];
  const ids = new Set();
  for (const bulk of items) {
    let row = list.rows.get(bulk.bulk_id);
    if (!row) {
      row = createRow(domain, bulk);
      list.rows.set(bulk.bulk_id, row);
    }
    updateRow(row, bulk);
    wanted.push(row);
    ids.add(bulk.bulk_id);
  }
  for (const [id, row] of list.rows) {
    if (!ids.has(id)) {
      row.remove();
      list.rows.delete(id);
    }
  }
  // In order, moving only what must move (a focused button stays focused).
  let cursor = tbody.firstChild;
  for (const row of wanted) {
    if (row === cursor) cursor = cursor.nextSibling;
    else tbody.insertBefore(row, cursor);
  }
}

let rowIds = 0;

function createRow(domain, bulk) {
  const id = `bulk-${++rowIds}`;
  const subjectId = `${id}-subject`;
  const progressId = `${id}-progress`;
  const cancel = el("button", { type: "button", className: "danger cancel-remaining", text: "Cancel remaining", "aria-describedby": subjectId });
  const note = el("p", { className: "row-note", role: "status" });
  const row = el(
    "tr",
    { className: "bulk" },
    el("td", { className: "created", "data-label": "Created" }),
    el(
      "td",
      { className: "subject", "data-label": "Subject" },
      el("span", { id: subjectId, className: "bulk-subject" }),
      el(
        "span",
        { className: "bulk-links" },
        page.link({ view: "log", domain, bulk: bulk.bulk_id }, "Show its emails"),
        idWithCopy("bulk id", bulk.bulk_id),
      ),
    ),
    el("td", { className: "recipients num", "data-label": "Recipients" }),
    el(
      "td",
      { className: "progress-cell", "data-label": "Progress" },
      el("progress", { id: progressId, "aria-labelledby": subjectId }),
      el("span", { className: "progress-text" }),
      el("span", { className: "progress-counts" }),
    ),
    el("td", { className: "by", "data-label": "Sent by" }),
    el("td", { className: "row-action" }, cancel, note),
  );
  row.dataset.bulkId = bulk.bulk_id;
  cancel.addEventListener("click", () => cancelRemaining(row, cancel, note));
  return row;
}

function updateRow(row, bulk) {
  row.bulk = bulk;
  const [created, subject, recipients, progress, by, action] = row.children;
  if (row.dataset.created !== bulk.created_at) {
    const when = [timeElement(bulk.created_at)];
    if (bulk.send_at) when.push(el("span", { className: "scheduled-for" }, document.createTextNode("Scheduled for "), timeElement(bulk.send_at)));
    created.replaceChildren(...when);
    row.dataset.created = bulk.created_at;
  }
  setText(subject.querySelector(".bulk-subject"), bulk.subject || "(no subject)");
  setText(recipients, String(bulk.total));
  const total = bulk.total || 0;
  const unsent = counted(bulk, UNSENT);
  const done = total - unsent;
  const bar = progress.querySelector("progress");
  bar.max = total || 1;
  bar.value = total ? done : 1;
  const pct = total ? Math.floor((done * 100) / total) : 100;
  let text = `${done} of ${total} past sending (${pct}%)`;
  if (bulk.canceled) text += "; the rest was canceled";
  setText(progress.querySelector(".progress-text"), text);
  const counts = progress.querySelector(".progress-counts");
  const shown = STATUSES.filter((status) => (bulk.counts || {})[status]);
  const key = shown.map((status) => `${status}:${bulk.counts[status]}`).join(",");
  if (counts.dataset.key !== key) {
    counts.replaceChildren(
      ...shown.map((status) =>
        el("span", { className: `count status-${status}` }, el("span", { className: "count-n", text: String(bulk.counts[status]) }), document.createTextNode(` ${status}`)),
      ),
    );
    counts.dataset.key = key;
  }
  const who = bulk.created_by || "—";
  const mine = page.state.claims && page.state.claims.subject && page.state.claims.subject === bulk.created_by;
  setText(by, mine ? `${who} (you)` : who);
  const cancel = action.querySelector("button.cancel-remaining");
  const cancelable = counted(bulk, CANCELABLE);
  const hadFocus = document.activeElement === cancel;
  cancel.hidden = cancelable === 0;
  if (hadFocus && cancel.hidden) row.querySelector("a")?.focus();
}

async function cancelRemaining(row, button, note) {
  const bulk = row.bulk;
  button.disabled = true;
  setText(note, "Canceling…");
  let answer;
  try {
    answer = await page.api().cancelBulk(bulk.bulk_id);
  } catch (error) {
    button.disabled = false;
    if (error instanceof ApiError && error.status === 401) return page.failed(error, "canceling the bulk send");
    setText(note, page.describeError(error, "canceling the bulk send"));
    return;
  }
  button.disabled = false;
  const n = answer.canceled || 0;
  const said = n ? `${n} email${n === 1 ? "" : "s"} of “${bulk.subject}” canceled: they will not be sent.` : "Nothing left to cancel: every email was already past sending.";
  setText(note, said); // a live region: said once
  await loadBulks({ keepPage: true, quiet: true });
  // Disabled while it ran, then gone (nothing left to cancel): the keyboard goes to the row's link.
  if (!document.activeElement || document.activeElement === document.body) {
    (button.isConnected && !button.hidden ? button : row.querySelector("a"))?.focus();
  }
}
