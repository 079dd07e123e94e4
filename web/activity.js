// Activity: the chosen domain's audit trail (GET /audit), newest first: who
// did what, when, to which bulk send, email or address.

import { $, el, setText } from "./dom.js";
import { timeElement } from "./format.js";

export const ACTION_WORDS = {
  bulk_send: "Bulk send",
  bulk_cancel: "Bulk send canceled",
  job_cancel: "Email canceled",
  job_retry: "Email retried",
  test_send: "Test email",
  suppression_add: "Address suppressed",
  suppression_remove: "Suppression removed",
  unsubscribe: "Unsubscribed",
};

let page; // app.js's context
const list = { cursor: null, previous: [], next: null, asked: 0 };

export function initActivity(context) {
  page = context;
  $("activity-next").addEventListener("click", () => {
    list.previous.push(list.cursor);
    list.cursor = list.next;
    loadActivity({ keepPage: true }).then(() => $("activity-title").focus());
  });
  $("activity-first").addEventListener("click", () => {
    list.previous = [];
    list.cursor = null;
    loadActivity({ keepPage: true }).then(() => $("activity-title").focus());
  });
}

export function forgetActivity() {
  list.asked += 1;
  $("activity-body").replaceChildren();
}

export async function loadActivity({ keepPage = false } = {}) {
  const { state } = page;
  const domain = state.filters.domain;
  setText($("activity-title"), domain ? `Activity in ${domain}` : "Activity");
  if (!keepPage) {
    list.cursor = null;
    list.previous = [];
  }
  if (!domain) {
    forgetActivity();
    $("activity-wrap").hidden = true;
    $("activity-next").hidden = true;
    $("activity-first").hidden = true;
    setText($("activity-state"), "Choose a domain above to see who did what in it.");
    return;
  }
  setText($("activity-state"), "Loading the activity…");
  const mine = ++list.asked;
  let answer;
  try {
    answer = await page.api().audit(domain, list.cursor);
  } catch (error) {
    if (mine !== list.asked) return;
    setText($("activity-state"), "");
    page.failed(error, "loading the activity", () => loadActivity({ keepPage: true }));
    return;
  }
  if (mine !== list.asked || domain !== state.filters.domain || state.view.view !== "activity") return;
  const items = answer.items || [];
  list.next = answer.next_cursor || null;
  $("activity-body").replaceChildren(...items.map((entry) => entryRow(domain, entry)));
  $("activity-wrap").hidden = items.length === 0;
  $("activity-next").hidden = !list.next;
  $("activity-first").hidden = list.previous.length === 0;
  setText(
    $("activity-state"),
    items.length === 0
      ? `Nothing done in ${domain} yet.`
      : `${items.length} action${items.length === 1 ? "" : "s"}, newest first${list.previous.length ? ` (page ${list.previous.length + 1})` : ""}.`,
  );
}

function who(actor) {
  if (actor === "recipient") return "the recipient (one-click unsubscribe)";
  const claims = page.state.claims;
  return claims && claims.subject && claims.subject === actor ? `${actor} (you)` : actor || "—";
}

// The target as a way to it: a bulk send, an email, an address in Suppressions.
function target(domain, entry) {
  const value = entry.target;
  if (!value) return null;
  if (entry.action === "bulk_send" || entry.action === "bulk_cancel") {
    return page.link({ view: "bulks", domain, bulk: value }, `Bulk send ${value}`, { className: "mono" });
  }
  if (entry.action === "job_cancel" || entry.action === "job_retry" || entry.action === "test_send") {
    return page.link({ view: "log", domain, job: value }, `Email ${value}`, { className: "mono" });
  }
  if (entry.action.startsWith("suppression_") || entry.action === "unsubscribe") {
    return page.link({ view: "suppressions", domain, email: value }, value);
  }
  return el("span", { text: value });
}

function entryRow(domain, entry) {
  const link = target(domain, entry);
  return el(
    "tr",
    {},
    el("td", { className: "when-cell", "data-label": "When" }, timeElement(entry.at)),
    el("td", { className: "actor", "data-label": "Who", text: who(entry.actor) }),
    el("td", { className: "action-cell", "data-label": "Action" }, el("span", { className: `action-word action-${entry.action}`, text: ACTION_WORDS[entry.action] || entry.action })),
    el(
      "td",
      { className: "details", "data-label": "Details" },
      el("span", { text: entry.detail || "" }),
      link ? el("span", { className: "target" }, link) : null,
    ),
  );
}
