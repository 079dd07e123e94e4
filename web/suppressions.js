// A domain's suppression list: the view, Remove behind a confirmation, and
// the look-up an opened email uses to know whether Retry can succeed.

import { ApiError } from "./api.js";
import { $, el, idWithCopy, setText } from "./dom.js";
import { timeElement } from "./format.js";

// How many pages (of 100) the page reads to find one address; a longer list
// leaves the answer unknown (the API still refuses a retry to a listed address).
const LOOKUP_PAGES = 5;
const LOOKUP_TTL_MS = 30_000;

export const REASON_WORDS = {
  bounced: "a permanent bounce",
  complained: "a spam complaint",
  unsubscribed: "the recipient unsubscribed",
  manual: "added by an admin",
};

// What removing an address means, by why it is listed.
const REMOVE_WARNINGS = {
  complained:
    "This recipient marked an email as spam. Mailing them again can get the domain's emails blocked or its sending paused; remove the address only if they asked to receive emails again.",
  bounced:
    "Their mail server refused this address for good. Emails to it are likely to bounce again and count against the domain's bounce rate; remove it only once the address is known to work.",
  unsubscribed:
    "The recipient unsubscribed themselves. Remove the address only if they asked to receive emails again.",
  manual: "An admin put this address on the list by hand.",
};

let page; // app.js's context
let cursor = null; // of the list shown
let removing = null; // {domain, entry, row} the confirmation is about
const lookups = new Map(); // domain -> {entries: Map(email -> entry), complete, at}

export function initSuppressions(context) {
  page = context;
  $("suppressions-next").addEventListener("click", () => loadSuppressions({ more: true }));
  $("unsuppress-keep").addEventListener("click", () => $("unsuppress").close());
  $("unsuppress-form").addEventListener("submit", (event) => {
    event.preventDefault();
    confirmRemove();
  });
  $("unsuppress").addEventListener("close", () => {
    const asked = removing;
    removing = null;
    // Back to the entry's Remove when it is still listed (Keep, Escape).
    if (asked && asked.row.isConnected && page.state.api) asked.row.querySelector("button.remove")?.focus();
  });
}

export function closeUnsuppress() {
  if ($("unsuppress").open) $("unsuppress").close();
}

// ------------------------------------------------------------------ the look-up
export function invalidateSuppressions(domain) {
  lookups.delete(domain);
}

async function lookup(domain) {
  const known = lookups.get(domain);
  if (known && Date.now() - known.at < LOOKUP_TTL_MS) return known;
  const entries = new Map();
  let next = null;
  let pages = 0;
  do {
    const answer = await page.api().suppressions(domain, next, 100);
    for (const entry of answer.items || []) entries.set(entry.email.toLowerCase(), entry);
    next = answer.next_cursor || null;
    pages += 1;
  } while (next && pages < LOOKUP_PAGES);
  const found = { entries, complete: !next, at: Date.now() };
  lookups.set(domain, found);
  return found;
}

// {entry} when the address is listed, {none: true} when it is known not to
// be, null when the page could not tell (a long list, a refused read).
export async function suppressionOf(domain, email) {
  let known;
  try {
    known = await lookup(domain);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) throw error;
    return null;
  }
  const entry = known.entries.get(email.toLowerCase());
  if (entry) return { entry };
  return known.complete ? { none: true } : null;
}

// ------------------------------------------------------------------ the view
// highlight: an address to find in the list (the address's email=).
export async function loadSuppressions({ more = false, highlight = "" } = {}) {
  const { state } = page;
  const domain = state.filters.domain;
  const stateText = $("suppressions-state");
  setText($("suppressions-title"), domain ? `Suppressions for ${domain}` : "Suppressions");
  if (!domain) {
    $("suppressions-wrap").hidden = true;
    $("suppressions-next").hidden = true;
    setText(stateText, "Choose a domain above to see its suppression list.");
    return;
  }
  if (!more) cursor = null;
  setText(stateText, "Loading the suppression list…");
  const tbody = $("suppressions-body");
  const wanted = highlight.toLowerCase();
  let found = null;
  let pages = 0;
  try {
    do {
      const answer = await page.api().suppressions(domain, cursor);
      if (domain !== state.filters.domain || state.view.view !== "suppressions") return;
      const rows = (answer.items || []).map((entry) => suppressionRow(domain, entry));
      if (more || pages > 0) tbody.append(...rows);
      else tbody.replaceChildren(...rows);
      cursor = answer.next_cursor || null;
      pages += 1;
      if (wanted) found = [...tbody.children].find((row) => row.dataset.email === wanted) || null;
      // An entry asked for by the address is looked for a few pages on.
    } while (wanted && !found && cursor && pages < LOOKUP_PAGES);
  } catch (error) {
    setText(stateText, "");
    page.failed(error, "loading the suppression list", () => loadSuppressions({ highlight }));
    return;
  }
  $("suppressions-next").hidden = !cursor;
  const count = tbody.children.length;
  $("suppressions-wrap").hidden = count === 0;
  let text = count === 0 ? `No suppressed addresses for ${domain}.` : `${count} suppressed address${count === 1 ? "" : "es"}${cursor ? " shown" : ""}.`;
  if (wanted && !found) text += ` ${highlight} is not on ${domain}'s list${cursor ? " (among those shown)" : ""}.`;
  setText(stateText, text);
  if (found) {
    found.classList.add("highlight");
    found.setAttribute("aria-current", "true");
    const cell = found.querySelector("th, td");
    cell.tabIndex = -1;
    cell.focus();
    found.scrollIntoView({ block: "center" });
  }
}

let suppressionIds = 0;

function suppressionRow(domain, entry) {
  const emailId = `suppressed-${++suppressionIds}`;
  const remove = el("button", { type: "button", className: "secondary remove", text: "Remove", "aria-describedby": emailId });
  const row = el(
    "tr",
    {},
    el("td", { id: emailId, className: "email", "data-label": "Email", text: entry.email }),
    el("td", { "data-label": "Reason" }, el("span", { className: `reason reason-${entry.reason}`, text: entry.reason })),
    el("td", { "data-label": "Added" }, timeElement(entry.created_at)),
    el(
      "td",
      { className: "job", "data-label": "Job" },
      entry.job_id ? idWithCopy("job id", entry.job_id, jobLink(domain, entry.job_id)) : document.createTextNode("—"),
    ),
    el("td", { className: "row-action" }, remove),
  );
  row.dataset.email = entry.email.toLowerCase();
  remove.addEventListener("click", () => askRemove(domain, entry, row));
  return row;
}

function jobLink(domain, jobId) {
  const link = el("a", { className: "mono", href: `?domain=${encodeURIComponent(domain)}&job=${encodeURIComponent(jobId)}`, text: jobId });
  link.addEventListener("click", (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    page.navigate({ view: "log", domain, job: jobId });
  });
  return link;
}

// ------------------------------------------------------------------ Remove, confirmed
function askRemove(domain, entry, row) {
  removing = { domain, entry, row };
  const reason = REASON_WORDS[entry.reason] || entry.reason;
  $("unsuppress-text").replaceChildren(
    el(
      "p",
      {},
      document.createTextNode("Remove "),
      el("strong", { text: entry.email }),
      document.createTextNode(` from ${domain}'s suppression list? It is listed because of ${reason} (`),
      el("span", { className: `reason reason-${entry.reason}`, text: entry.reason }),
      document.createTextNode(")."),
    ),
    el("p", { className: entry.reason === "complained" ? "warning-text" : "hint", text: REMOVE_WARNINGS[entry.reason] || "" }),
    el("p", { text: `Once removed, ${domain}'s emails reach ${entry.email} again.` }),
  );
  $("unsuppress-error").hidden = true;
  $("unsuppress-remove").disabled = false;
  $("unsuppress").showModal();
  // The safe choice has the focus: Enter keeps the address listed.
  $("unsuppress-keep").focus();
}

async function confirmRemove() {
  const asked = removing;
  if (!asked) return;
  const { domain, entry, row } = asked;
  const button = $("unsuppress-remove");
  button.disabled = true;
  try {
    await page.api().unsuppress(domain, entry.email);
  } catch (error) {
    button.disabled = false;
    if (error instanceof ApiError && error.status === 401) return page.failed(error, "removing the address");
    // Already gone (removed elsewhere): as if removed here.
    if (!(error instanceof ApiError && error.status === 404)) {
      setText($("unsuppress-error"), page.describeError(error, "removing the address"));
      $("unsuppress-error").hidden = false;
      return;
    }
  }
  invalidateSuppressions(domain);
  const next = row.nextElementSibling || row.previousElementSibling;
  row.remove();
  removing = null;
  $("unsuppress").close();
  const left = $("suppressions-body").children.length;
  $("suppressions-wrap").hidden = left === 0;
  const said = `${entry.email} removed: ${domain}'s emails reach it again.`;
  // The list's live status says it (once).
  setText($("suppressions-state"), `${said} ${left === 0 ? `No suppressed addresses for ${domain}.` : ""}`.trim());
  (next?.querySelector("button.remove") || $("suppressions-title")).focus();
}
