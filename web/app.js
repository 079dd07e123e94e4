// The Email Operations page (docs/page.md): the log, one email opened below its
// row, Bulk Send (bulk.js), the domain's health (health.js), its bulk sends
// (bulks.js), statistics (stats.js), activity (activity.js) and suppression
// list (suppressions.js), over the API of docs/api.md. The view shown lives in the address
// (address.js); what an admin was preparing survives an expired token
// (draft.js). An email's HTML goes only, rebuilt without anything that could
// reach the network (preview.js), into a sandboxed frame.

import { currentView, emptyView, parseView, viewHref, viewSearch } from "./address.js";
import { Api, ApiError, NetworkError } from "./api.js";
import { forgetActivity, initActivity, loadActivity } from "./activity.js";
import { forgetBulks, initBulks, loadBulks, stopBulks } from "./bulks.js";
import { followDomain, initHealth, stopHealth } from "./health.js";
import { forgetStats, initStats, loadStats } from "./stats.js";
import { initBulk, bulkDialogOpen, closeBulkForSignIn, draftNow, openBulk, updateBulkButton } from "./bulk.js";
import { $, copyButton, el, idWithCopy, setText } from "./dom.js";
import { forgetDraft, loadDraft, saveDraft } from "./draft.js";
import {
  CANCELABLE, MOVING, RETRYABLE, STATUSES, TYPES, TYPE_NAMES,
  absoluteText, badge, errorNodes, errorText, errorTone, refreshTimes, suppressingEvent, timeElement, timeline,
} from "./format.js";
import { previewDocument } from "./preview.js";
import {
  initSuppressions, invalidateSuppressions, loadSuppressions, REASON_WORDS, suppressionOf, closeUnsuppress,
} from "./suppressions.js";
import { forgetToken, isExpired, readClaims, storeToken, storedToken, takeTokenFromAddress } from "./token.js";

const REFRESH_MS = 3000;
const TIMES_MS = 30_000;
// Longer than the time between the two clicks of a double click.
const ROW_CLICK_MS = 300;
// How long before the token's expiry the page warns.
const WARN_BEFORE_MS = 120_000;
const COLUMNS = 9;

const state = {
  api: null,
  claims: null,
  view: emptyView(), // what the address says is shown
  lastLog: emptyView(), // the log's view as last shown (the Log link goes back to it)
  filters: { domain: "", status: "", type: "", recipient: "", bulk: "" },
  logReady: false, // the log of these filters has been loaded at least once
  cursor: null, // the cursor of the page shown (null: the first)
  previous: [], // the cursors of the pages before it
  nextCursor: null,
  jobs: new Map(), // job_id -> summary, the page shown
  selected: new Map(), // job_id -> recipient
  rows: new Map(), // job_id -> <tr>
  opened: null, // the job_id of the opened email (the address's job)
  detail: null, // {jobId, row: <tr>} of the opened email
  linked: null, // the opened email's summary when it is not on the page shown (opened from a link)
  linkedLoading: null, // the job_id of the linked email being fetched
  bannerKept: false, // the banner shown stays until the view changes
  notes: new Map(), // job_id -> what the last Cancel or Retry answered (kept when the email is drawn again)
  retries: new Map(), // job_id -> {key, jobId}: its retry's Idempotency-Key and the email that retry made
  refreshTimer: null,
  expiryTimer: null,
  warnTimer: null,
};

// What the view modules (bulk.js, suppressions.js) use of the page.
const page = {
  state,
  api: () => state.api,
  failed,
  describeError,
  navigate,
  loadLog,
  clearSelection,
  keepDraft,
  link: (view, text, options) => linkTo(view, text, options),
  focusLog: () => $("log-title").focus(),
};

// ------------------------------------------------------------------ errors
// A kept banner (an email the address names that does not exist) stays until
// the view changes; the log's refresh every few seconds hides only the others
// (a failure of its own that its success ends).
function showBanner(text, { retry = null, keep = false } = {}) {
  setText($("banner-text"), text);
  const button = $("banner-retry");
  button.hidden = !retry;
  button.onclick = retry;
  $("banner").hidden = false;
  state.bannerKept = keep;
}

function hideBanner({ unlessKept = false } = {}) {
  if (unlessKept && state.bannerKept) return;
  state.bannerKept = false;
  $("banner").hidden = true;
}

function describeError(error, what) {
  if (error instanceof NetworkError) return `Could not reach the service while ${what}. Check your connection and try again.`;
  if (error instanceof ApiError) {
    if (error.status === 403) {
      const domain = state.filters.domain;
      return domain
        ? `You may not see ${domain}: it is not among your token's domains.`
        : `Not allowed: ${error.message}`;
    }
    if (error.status === 404 && error.code === "not_found" && /no route/i.test(error.message)) {
      return `This service does not offer that yet (${what}).`;
    }
    return error.message;
  }
  return `Something went wrong while ${what}.`;
}

function unauthorized(error) {
  return error instanceof ApiError && error.status === 401;
}

// Every failure of a call lands here: 401 asks for a new token (keeping the
// draft), the rest is a banner.
function failed(error, what, retry) {
  if (unauthorized(error)) {
    showSignIn("Your token was refused or has expired. Sign in again.");
    return;
  }
  showBanner(describeError(error, what), { retry: error instanceof NetworkError ? retry : null });
}

// ------------------------------------------------------------------ sign-in
// signOut: the admin asked; the draft goes with the token. Otherwise (an
// expired or refused token) the draft stays for the next sign-in in this tab.
function showSignIn(reason, { signOut = false } = {}) {
  if (signOut) forgetDraft();
  else keepDraft();
  const draft = loadDraft();
  forgetToken();
  state.api = null;
  stopRefresh();
  stopHealth();
  clearTimeout(state.expiryTimer);
  clearTimeout(state.warnTimer);
  showExpiryWarning(null);
  closeBulkForSignIn();
  closeUnsuppress();
  $("app").hidden = true;
  $("who").hidden = true;
  hideBanner();
  forgetData();
  $("signin").hidden = false;
  let text = reason || "Paste an admin token for your domains.";
  if (draft && draft.dialog) {
    text += ` Your Bulk Send draft for ${draft.domain} is kept: it opens again once you sign in with a token for ${draft.domain}.`;
  } else if (draft && draft.selected.length) {
    text += ` Your ${draft.selected.length} selected row${draft.selected.length === 1 ? " is" : "s are"} kept.`;
  }
  setText($("signin-reason"), text);
  $("token-input").value = "";
  $("token-input").focus();
}

// Nothing one token was shown stays for the next (the address and the draft do).
function forgetData() {
  state.jobs = new Map();
  state.rows.clear();
  state.detail = null;
  state.opened = null;
  state.linked = null;
  state.logReady = false;
  state.notes.clear();
  state.selected.clear();
  state.cursor = null;
  state.previous = [];
  state.nextCursor = null;
  $("log-body").replaceChildren();
  $("suppressions-body").replaceChildren();
  forgetBulks();
  forgetStats();
  forgetActivity();
  setText($("log-state"), "");
}

function domainAllowed(domain) {
  const claims = state.claims;
  return !domain || !claims || claims.everyDomain || claims.domains.includes(domain);
}

function signIn(token) {
  const claims = readClaims(token);
  if (!token || isExpired(claims)) {
    showSignIn(token ? "This token has expired. Sign in again." : null);
    return;
  }
  storeToken(token);
  state.api = new Api(token);
  state.claims = claims;
  $("signin").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  setText(
    $("who-domains"),
    !claims ? "Signed in" : claims.everyDomain ? "Signed in for every domain" : `Signed in for ${claims.domains.join(", ")}`,
  );
  scheduleExpiry(claims);
  buildDomainField();

  // The draft of an earlier token of this tab, if this one may see its domain.
  let draft = loadDraft();
  if (draft && !domainAllowed(draft.domain)) {
    forgetDraft();
    draft = null;
  }
  let view = currentView();
  // A domain this token does not have is dropped (with the email opened in it).
  if (!domainAllowed(view.domain)) view = { ...view, domain: "", job: "", email: "" };
  if (draft && draft.domain !== view.domain) view = { ...emptyView(), domain: draft.domain };
  history.replaceState(null, "", viewHref(view));
  applyView(view, { force: true });
  if (draft) {
    state.selected = new Map(draft.selected);
    for (const [jobId, row] of state.rows) row.querySelector("input[type=checkbox]").checked = state.selected.has(jobId);
    updateBulkButton();
    if (draft.dialog) openBulk(draft.dialog);
    else keepDraft();
  }
}

// ------------------------------------------------------------------ the token's expiry
function scheduleExpiry(claims) {
  clearTimeout(state.expiryTimer);
  clearTimeout(state.warnTimer);
  showExpiryWarning(null);
  if (!claims || !claims.expiresAt) return;
  const left = claims.expiresAt.getTime() - Date.now();
  if (left >= 2 ** 31) return; // beyond what a timer can wait; a 401 still asks
  state.expiryTimer = setTimeout(
    () => showSignIn("Your token has expired. Paste a new one to go on where you were."),
    Math.max(left, 0),
  );
  const warn = () => {
    showExpiryWarning(claims.expiresAt);
    state.warnTimer = setTimeout(warn, 15_000);
  };
  state.warnTimer = setTimeout(warn, Math.max(left - WARN_BEFORE_MS, 0));
}

function showExpiryWarning(expiresAt) {
  for (const [box, text] of [["expiry", "expiry-text"], ["bulk-expiry", "bulk-expiry-text"]]) {
    if (!expiresAt) {
      $(box).hidden = true;
      continue;
    }
    const seconds = Math.max(0, Math.round((expiresAt.getTime() - Date.now()) / 1000));
    const left = seconds >= 90 ? `in ${Math.round(seconds / 60)} minutes` : seconds >= 45 ? "in about a minute" : "in less than a minute";
    setText(
      $(text),
      `Your token expires ${left} (${absoluteText(expiresAt)}). Renew it to go on without a break; nothing you have typed or selected is lost either way.`,
    );
    $(box).hidden = false;
  }
}

// What the admin was preparing, kept in the tab (draft.js); nothing without a domain chosen.
function keepDraft() {
  if (!state.api) return;
  const draft = draftNow();
  if (draft) saveDraft(draft);
  else forgetDraft();
}

// ------------------------------------------------------------------ filters
function buildDomainField() {
  const field = $("domain-field");
  field.querySelector("#f-domain")?.remove();
  const claims = state.claims;
  let control;
  if (!claims || claims.everyDomain) {
    control = el("input", {
      id: "f-domain", type: "text", name: "domain", autocomplete: "off", spellcheck: "false",
      placeholder: "every domain; type one to choose it",
    });
  } else {
    control = el("select", { id: "f-domain", name: "domain" }, el("option", { value: "", text: "All my domains" }));
    for (const domain of claims.domains) control.append(el("option", { value: domain, text: domain }));
  }
  control.addEventListener("change", filtersChanged);
  field.append(control);
}

// A selection belongs to one domain's Bulk Send: cleared at once, rows too.
function clearSelection() {
  state.selected.clear();
  for (const box of $("log-body").querySelectorAll("tr.job input[type=checkbox]")) box.checked = false;
  updateBulkButton();
  keepDraft();
}

function fillSelect(select, values, names = {}) {
  for (const value of values) select.append(el("option", { value, text: names[value] || value }));
}

function readFilters() {
  return {
    domain: $("f-domain").value.trim().toLowerCase(),
    status: $("f-status").value,
    type: $("f-type").value,
    recipient: $("f-recipient").value.trim(),
  };
}

function showFilters(view) {
  const domain = $("f-domain");
  if (domain.tagName === "SELECT") domain.value = [...domain.options].some((o) => o.value === view.domain) ? view.domain : "";
  else domain.value = view.domain;
  if (view.view === "log") {
    $("f-status").value = STATUSES.includes(view.status) ? view.status : "";
    $("f-type").value = TYPES.includes(view.type) ? view.type : "";
    $("f-recipient").value = view.recipient;
  }
}

// A filter chosen: a new view of the log (the opened email closes).
function filtersChanged() {
  const chosen = readFilters();
  const base = state.view.view === "log" ? state.view : { ...state.lastLog, view: "log" };
  const next = { ...base, ...chosen, job: "" };
  if (chosen.domain !== state.view.domain) next.bulk = "";
  if (state.view.view !== "log") {
    navigate({ ...state.view, domain: chosen.domain, email: "", bulk: "" });
    return;
  }
  navigate(next);
}

// ------------------------------------------------------------------ views
// The address changes (pushed, or Back and Forward), then the page follows it.
function navigate(next, { replace = false } = {}) {
  const view = parseView(viewSearch({ ...emptyView(), ...next }));
  const href = viewHref(view);
  if (href !== `${window.location.pathname}${window.location.search}`) {
    history[replace ? "replaceState" : "pushState"](null, "", href);
  }
  applyView(view);
}

const VIEW_SECTIONS = {
  log: "log-view",
  bulks: "bulks-view",
  stats: "stats-view",
  activity: "activity-view",
  suppressions: "suppressions-view",
};

function applyView(asked, { force = false } = {}) {
  if (!state.api) return;
  // A status or type the page does not know (an edited address) is dropped, not sent to the API.
  const view = {
    ...asked,
    status: STATUSES.includes(asked.status) ? asked.status : "",
    type: TYPES.includes(asked.type) ? asked.type : "",
  };
  if (viewSearch(view) !== viewSearch(asked)) history.replaceState(null, "", viewHref(view));
  const before = state.view;
  state.view = view;
  showFilters(view);
  const filters =
    view.view === "log"
      ? { domain: view.domain, status: view.status, type: view.type, recipient: view.recipient, bulk: view.bulk }
      : { ...state.filters, domain: view.domain };
  const domainChanged = force || filters.domain !== state.filters.domain;
  if (filters.domain !== state.filters.domain) clearSelection();
  const changed = force || JSON.stringify(filters) !== JSON.stringify(state.filters);
  if ((changed || before.view !== view.view) && state.bannerKept) hideBanner();
  state.filters = filters;
  if (domainChanged) followDomain();
  if (view.view === "log") state.lastLog = view;

  for (const [name, section] of Object.entries(VIEW_SECTIONS)) $(section).hidden = name !== view.view;
  for (const field of document.querySelectorAll("#filters .log-only")) field.hidden = view.view !== "log";
  for (const link of document.querySelectorAll(".views a[data-view]")) {
    const name = link.dataset.view;
    link.href = viewHref(name === "log" ? { ...state.lastLog, domain: view.domain, job: "" } : { ...emptyView(), view: name, domain: view.domain });
    if (name === view.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  showBulkFilter(view);
  updateBulkButton();

  if (view.view === "log") {
    if (changed || before.view !== "log") {
      state.cursor = null;
      state.previous = [];
      state.logReady = false;
      state.linked = null;
      syncOpened(view.job);
      loadLog({ announce: true });
    } else {
      syncOpened(view.job);
    }
  } else {
    stopRefresh();
    syncOpened(null);
  }
  if (view.view !== "bulks") stopBulks();
  if (view.view === "bulks") loadBulks();
  else if (view.view === "stats") loadStats();
  else if (view.view === "activity") loadActivity();
  else if (view.view === "suppressions") loadSuppressions({ highlight: view.email });
}

function showBulkFilter(view) {
  const on = view.view === "log" && Boolean(view.bulk);
  $("bulk-filter").hidden = !on;
  if (on) {
    $("bulk-filter-text").replaceChildren(
      document.createTextNode(`Showing the emails of bulk send ${view.bulk}. `),
      linkTo({ view: "bulks", domain: view.domain, bulk: view.bulk }, "Progress of this bulk send"),
    );
  }
}

function linkTo(view, text, { className } = {}) {
  const href = viewHref({ ...emptyView(), ...view });
  const link = el("a", { href, text, className });
  link.addEventListener("click", (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(parseView(new URL(link.href).search));
  });
  return link;
}

// ------------------------------------------------------------------ the log
function stopRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = null;
}

function scheduleRefresh() {
  stopRefresh();
  const moving = [...state.jobs.values(), ...(state.linked ? [state.linked] : [])].some((job) => MOVING.has(job.status));
  // Not behind the Bulk Send dialog (its progress bar polls instead): the log refreshes when it closes.
  if (!moving || state.view.view !== "log" || !state.api || bulkDialogOpen()) return;
  state.refreshTimer = setTimeout(() => {
    if (document.visibilityState === "hidden") scheduleRefresh();
    else loadLog({ quiet: true });
  }, REFRESH_MS);
}

// announce: say "Loading" while it loads (a refresh does not).
async function loadLog({ announce: loud = false } = {}) {
  if (!state.api) return;
  stopRefresh();
  const api = state.api;
  const filters = { ...state.filters };
  const cursor = state.cursor;
  if (loud) setText($("log-state"), "Loading emails…");
  $("log").setAttribute("aria-busy", "true");
  let answer;
  try {
    answer = await api.listJobs(
      { domain: filters.domain, status: filters.status, type: filters.type, recipient: filters.recipient, bulk_id: filters.bulk },
      cursor,
    );
  } catch (error) {
    if (api !== state.api) return;
    $("log").removeAttribute("aria-busy");
    setText($("log-state"), "");
    failed(error, "loading the log", () => loadLog({ announce: true }));
    if (error instanceof NetworkError) state.refreshTimer = setTimeout(() => loadLog({ quiet: true }), REFRESH_MS * 3);
    return;
  }
  // An answer for filters no longer chosen is dropped.
  if (api !== state.api || JSON.stringify(filters) !== JSON.stringify(state.filters) || cursor !== state.cursor) return;
  $("log").removeAttribute("aria-busy");
  hideBanner({ unlessKept: true });
  state.logReady = true;
  renderLog(answer.items || []);
  state.nextCursor = answer.next_cursor || null;
  $("next-page").hidden = !state.nextCursor;
  $("first-page").hidden = state.previous.length === 0;
  const count = (answer.items || []).length;
  setText($("log-state"), count === 0 ? emptyLogText(filters) : logSummary(count));
  scheduleRefresh();
}

function logSummary(count) {
  const number = state.previous.length + 1;
  return `${count} email${count === 1 ? "" : "s"}, newest first${number > 1 ? ` (page ${number})` : ""}.`;
}

function emptyLogText(filters) {
  const filtered = filters.status || filters.type || filters.recipient || filters.bulk;
  if (filters.domain) {
    return filtered ? `No emails for ${filters.domain} match these filters.` : `No emails yet for ${filters.domain}`;
  }
  return filtered ? "No emails match these filters." : "No emails yet for your domains";
}

function renderLog(items) {
  const tbody = $("log-body");
  state.jobs = new Map(items.map((job) => [job.job_id, job]));
  const opened = state.opened;
  if (state.linked && (state.linked.job_id !== opened || state.jobs.has(opened))) state.linked = null;
  const shown = state.linked ? [state.linked, ...items] : items;
  const wanted = [];
  for (const job of shown) {
    let row = state.rows.get(job.job_id);
    if (!row) {
      row = createRow(job);
      state.rows.set(job.job_id, row);
    }
    updateRow(row, job);
    row.classList.toggle("linked", job === state.linked);
    wanted.push(row);
    if (job.job_id === opened) wanted.push(detailRow(job.job_id));
  }
  const ids = new Set(shown.map((job) => job.job_id));
  for (const [jobId, row] of state.rows) {
    if (!ids.has(jobId)) {
      row.remove();
      state.rows.delete(jobId);
    }
  }
  if (state.detail && !ids.has(state.detail.jobId)) {
    state.detail.row.remove();
    state.detail = null;
  }
  const focused = document.activeElement;
  placeRows(tbody, wanted);
  if (focused && focused !== document.activeElement && tbody.contains(focused)) focused.focus();
  updateBulkButton();
  // Opened from the address, and not on this page of the log: shown above it.
  if (opened && state.logReady && !ids.has(opened)) openLinked(opened);
}

// Puts the rows in order moving as few as it can, and never an opened email:
// a frame taken out of the page and put back loads again, flickers and
// scrolls to its top. The rows around it move instead.
function placeRows(tbody, wanted) {
  let cursor = tbody.firstChild;
  for (const node of wanted) {
    if (node === cursor) cursor = cursor.nextSibling;
    // Whatever stands before the opened email is put back further down, where it is wanted.
    else if (node.parentNode === tbody && node.classList.contains("detail")) cursor = takeOut(cursor, node).nextSibling;
    else tbody.insertBefore(node, cursor);
  }
  takeOut(cursor, null);
}

// Takes the nodes from `node` up to `stop` (not included) out of the page.
function takeOut(node, stop) {
  while (node !== stop) {
    const next = node.nextSibling;
    node.remove();
    node = next;
  }
  return stop;
}

function createRow(job) {
  const id = job.job_id;
  const checkbox = el("input", { type: "checkbox", id: `select-${id}`, "aria-label": `Select ${job.recipient}` });
  checkbox.addEventListener("change", () => {
    if (checkbox.checked) state.selected.set(id, state.jobs.get(id)?.recipient || job.recipient);
    else state.selected.delete(id);
    updateBulkButton();
    keepDraft();
  });
  const toggle = el(
    "button",
    { type: "button", className: "toggle", "aria-label": "Show body", "aria-expanded": "false", id: `toggle-${id}` },
    el("span", { "aria-hidden": "true", className: "arrow", text: "▸" }),
  );
  toggle.addEventListener("click", () => toggleDetail(id));
  // The row's controls sit at its left, in its first cell; the labels name
  // each cell where the narrow layout shows no column headers.
  const row = el(
    "tr",
    { className: "job" },
    el(
      "td",
      { className: "created", "data-label": "Created" },
      el("div", { className: "created-inner" }, el("span", { className: "row-controls" }, checkbox, toggle), el("span", { className: "created-at" })),
    ),
    el("td", { className: "domain", "data-label": "Domain" }),
    el("td", { className: "recipient", "data-label": "Recipient" }),
    el("td", { className: "subject", "data-label": "Subject" }),
    el("td", { className: "status", "data-label": "Status" }),
    el("td", { className: "attempts num", "data-label": "Attempts" }),
    el("td", { className: "sent-at", "data-label": "Sent At" }),
    el("td", { className: "error", "data-label": "Error" }),
    // After the help page's eight, so that theirs keep their places.
    el("td", { className: "type", "data-label": "Type" }),
  );
  row.dataset.jobId = id;
  return row;
}

function updateRow(row, job) {
  const [created, domain, recipient, subject, status, attempts, sentAt, error, type] = row.children;
  const before = row.dataset.status;
  const id = job.job_id;
  created.querySelector("input").checked = state.selected.has(id);
  const toggle = created.querySelector("button.toggle");
  const open = state.opened === id;
  toggle.setAttribute("aria-expanded", String(open));
  if (open) toggle.setAttribute("aria-controls", `detail-${id}`);
  else toggle.removeAttribute("aria-controls");
  row.classList.toggle("open", open);
  if (row.dataset.created !== job.created_at) {
    created.querySelector(".created-at").replaceChildren(timeElement(job.created_at));
    row.dataset.created = job.created_at;
  }
  setText(domain, job.domain);
  setText(type, TYPE_NAMES[job.type] || job.type || "");
  if (recipient.dataset.text !== job.recipient) {
    // A line may break after the "@" first.
    const at = job.recipient.lastIndexOf("@");
    if (at > 0) recipient.replaceChildren(job.recipient.slice(0, at + 1), el("wbr"), job.recipient.slice(at + 1));
    else recipient.replaceChildren(job.recipient);
    recipient.dataset.text = job.recipient;
  }
  if (subject.dataset.text !== job.subject) {
    subject.replaceChildren(el("span", { className: "clamp", text: job.subject }));
    subject.dataset.text = job.subject;
  }
  subject.title = job.subject;
  if (before !== job.status) {
    status.replaceChildren(badge(job.status));
    row.dataset.status = job.status;
  }
  setText(attempts, String(job.attempts));
  if ((row.dataset.sentAt || "") !== (job.sent_at || "")) {
    sentAt.replaceChildren(timeElement(job.sent_at));
    row.dataset.sentAt = job.sent_at || "";
  }
  const errorKey = `${job.status}|${job.error || ""}`;
  if (row.dataset.error !== errorKey) {
    if (job.error) error.replaceChildren(el("span", { className: "clamp" }, ...errorNodes(job.status, job.error)));
    else error.replaceChildren();
    error.title = errorText(job.error);
    error.className = "error";
    const tone = errorTone(job.status, job.error);
    if (tone) error.classList.add(`error-${tone}`);
    row.dataset.error = errorKey;
  }
  // An opened email follows its job.
  if (before && before !== job.status && state.detail?.jobId === id) loadDetail(id);
}

// ------------------------------------------------------------------ one email
// Opening or closing an email is a view of its own: the address changes.
function toggleDetail(jobId) {
  navigate({ ...state.view, job: state.opened === jobId ? "" : jobId });
}

// The address's email, opened below its row (at most one at a time).
function syncOpened(jobId) {
  const wanted = jobId || null;
  if (state.opened === wanted) return;
  const hadFocus = state.detail && state.detail.row.contains(document.activeElement);
  const closing = state.opened;
  state.opened = wanted;
  if (state.detail && state.detail.jobId !== wanted) {
    state.detail.row.remove();
    state.notes.delete(state.detail.jobId);
    state.detail = null;
  }
  if (state.linked && state.linked.job_id !== wanted) state.linked = null;
  renderLog([...state.jobs.values()]);
  // Back closed the email the keyboard was in: to its row's arrow.
  if (hadFocus && closing) state.rows.get(closing)?.querySelector("button.toggle")?.focus();
}

function detailRow(jobId) {
  if (state.detail && state.detail.jobId === jobId) return state.detail.row;
  const cell = el("td", { colspan: COLUMNS }, el("p", { className: "state", text: "Loading the email…" }));
  const row = el("tr", { className: "detail", id: `detail-${jobId}` }, cell);
  state.detail = { jobId, row };
  loadDetail(jobId);
  return row;
}

// An email opened from the address that the log's page shown does not hold.
async function openLinked(jobId) {
  if (state.linkedLoading === jobId) return;
  state.linkedLoading = jobId;
  let job;
  try {
    job = await state.api.job(jobId);
  } catch (error) {
    if (unauthorized(error)) return failed(error, "opening the email");
    if (state.opened !== jobId) return;
    if (error instanceof ApiError && error.status === 404) {
      showBanner(
        `No email ${jobId} among your domains' emails: it may be older than the log keeps, or of a domain your token does not cover.`,
        { keep: true },
      );
      navigate({ ...state.view, job: "" }, { replace: true });
    } else failed(error, "opening the email", () => openLinked(jobId));
    return;
  } finally {
    state.linkedLoading = null;
  }
  if (state.opened !== jobId || state.jobs.has(jobId)) return;
  state.linked = job;
  renderLog([...state.jobs.values()]);
}

async function loadDetail(jobId) {
  const detail = state.detail;
  if (!detail || detail.jobId !== jobId) return;
  let job;
  let suppression = null;
  try {
    job = await state.api.job(jobId);
    // Retry is offered only where it can succeed: not to a suppressed address.
    if (RETRYABLE.has(job.status)) suppression = await suppressionOf(job.domain, job.recipient);
  } catch (error) {
    if (unauthorized(error)) return failed(error, "opening the email");
    detail.row.firstChild.replaceChildren(el("p", { className: "banner error", text: describeError(error, "opening the email") }));
    return;
  }
  if (state.detail !== detail) return;
  const focusedAction = detail.row.contains(document.activeElement) ? document.activeElement.textContent : null;
  showDetail(detail.row.firstChild, renderDetail(job, suppression));
  if (focusedAction) {
    // Keep the keyboard where it was: the same button, else the next action, else the row's arrow.
    const again = [...detail.row.querySelectorAll("button")].find((b) => b.textContent === focusedAction);
    (again || detail.row.querySelector(".actions button") || state.rows.get(jobId)?.querySelector("button.toggle"))?.focus();
  }
}

// An email drawn again (its status changed) keeps its body where it is: the
// body never changes, and its frame, taken out and put back, would load again.
function showDetail(cell, grid) {
  const shown = cell.querySelector(":scope > .detail-grid");
  if (!shown) return cell.replaceChildren(grid);
  const [left, right] = [...grid.children];
  const [shownLeft, shownRight] = [...shown.children];
  shownLeft.firstChild.replaceWith(left.firstChild); // the facts
  shownRight.replaceWith(right); // the timeline and the actions
}

function fact(term, value) {
  if (value === null || value === undefined || value === "") return null;
  return el("div", {}, el("dt", { text: term }), el("dd", {}, typeof value === "string" ? document.createTextNode(value) : value));
}

function renderDetail(job, suppression) {
  const emailView = { ...state.view, job: job.job_id };
  const facts = el(
    "dl",
    { className: "facts" },
    fact("Subject", job.subject),
    fact("To", job.recipient),
    fact("Reply-To", job.reply_to),
    fact("Type", TYPE_NAMES[job.type] || job.type),
    fact("Status", badge(job.status)),
    fact("Error", job.error ? el("span", { className: `error-${errorTone(job.status, job.error)}` }, ...errorNodes(job.status, job.error)) : null),
    fact("Created", timeElement(job.created_at)),
    job.send_at ? fact("Send at", timeElement(job.send_at)) : null,
    fact("Sent at", job.sent_at ? timeElement(job.sent_at) : null),
    fact("Job", idWithCopy("job id", job.job_id)),
    fact(
      "Bulk send",
      job.bulk_id
        ? el(
          "span",
          { className: "id-value" },
          idWithCopy("bulk id", job.bulk_id, linkTo({ domain: job.domain, bulk: job.bulk_id }, job.bulk_id, { className: "mono" })),
          linkTo({ view: "bulks", domain: job.domain, bulk: job.bulk_id }, "Progress of this bulk send"),
        )
        : null,
    ),
    fact(
      "Retry of",
      job.retry_of
        ? idWithCopy("id of the email it retries", job.retry_of, linkTo({ ...state.view, job: job.retry_of }, job.retry_of, { className: "mono" }))
        : null,
    ),
    fact("SES message id", job.message_id ? idWithCopy("SES message id", job.message_id) : null),
    fact("Link", el("span", { className: "id-value" }, el("span", { className: "hint", text: "This email's address, to send to a colleague" }),
      copyButton("link to this email", new URL(viewHref(emailView), window.location.href).href))),
  );

  const body = el("section", { className: "email", "aria-label": "Email body" });
  if (job.body_html) {
    const frame = el("iframe", {
      title: `HTML body of the email to ${job.recipient}`,
      sandbox: "",
      referrerpolicy: "no-referrer",
      className: "html-body",
    });
    frame.srcdoc = previewDocument(job.body_html);
    body.append(
      el("h3", { text: "HTML" }),
      el("p", {
        className: "hint",
        text: "Shown without scripts, remote images blocked and links not followed (hover one to see its address): nothing in this preview reaches the network.",
      }),
      frame,
    );
  }
  if (job.body_text) {
    body.append(el("h3", { text: job.body_html ? "Text version" : "Text" }), el("pre", { className: "text-body", text: job.body_text }));
  }
  if (!job.body_html && !job.body_text) body.append(el("p", { className: "hint", text: "This email has no body stored." }));

  const lines = timeline(job);
  const history = el("section", { className: "history", "aria-label": "Timeline" }, el("h3", { text: "Timeline" }));
  if (lines.length === 0) history.append(el("p", { className: "hint", text: "No attempt yet." }));
  else {
    history.append(
      el(
        "ol",
        { className: "timeline" },
        ...lines.map((line) => el("li", { className: line.kind }, timeElement(line.at), el("span", { text: ` ${line.text}` }))),
      ),
    );
  }
  if (job.unsubscribe_url) {
    history.append(el("p", { className: "hint", text: "Sent with a one-click unsubscribe link." }));
  }

  const message = el("div", { className: "action-message", role: "status" });
  showNote(message, state.notes.get(job.job_id));
  const actions = el("div", { className: "actions" });
  if (CANCELABLE.has(job.status)) {
    actions.append(el("button", { type: "button", className: "danger", text: "Cancel", onclick: (event) => act("cancel", job, message, event.currentTarget) }));
  }
  const notOffered = RETRYABLE.has(job.status) ? retryBlocked(job, suppression) : null;
  if (RETRYABLE.has(job.status) && !notOffered) {
    actions.append(el("button", { type: "button", className: "secondary", text: "Retry", onclick: (event) => act("retry", job, message, event.currentTarget) }));
  }
  return el("div", { className: "detail-grid" }, el("div", {}, facts, body), el("div", {}, history, actions, notOffered, message));
}

// Why Retry is not offered, with the way to the suppression entry; null when it is.
function retryBlocked(job, suppression) {
  const listHref = { view: "suppressions", domain: job.domain, email: job.recipient.toLowerCase() };
  let why;
  if (suppression && suppression.entry) {
    const entry = suppression.entry;
    why = `${job.recipient} is on ${job.domain}'s suppression list (${REASON_WORDS[entry.reason] || entry.reason}, since ${absoluteText(new Date(entry.created_at))}): ${job.domain}'s emails are never sent to it.`;
  } else if (!(suppression && suppression.none)) {
    const event = suppressingEvent(job);
    if (!event) return null;
    why = `${event.type === "complained" ? "The complaint" : "The permanent bounce"} put ${job.recipient} on ${job.domain}'s suppression list: ${job.domain}'s emails are not sent to it.`;
  } else return null;
  return el(
    "div",
    { className: "notice", role: "note" },
    el("p", {}, el("strong", { text: "Retry is not offered. " }), document.createTextNode(why)),
    el("p", {}, document.createTextNode("To send to it again, remove it from the list first: "), linkTo(listHref, `${job.recipient} in Suppressions`), document.createTextNode(".")),
  );
}

// A note under the actions: {text, tone, link: {view, text}} or a plain string.
function showNote(box, note) {
  if (!note) return box.replaceChildren();
  const value = typeof note === "string" ? { text: note } : note;
  const parts = [el("span", { text: value.text })];
  if (value.link) parts.push(document.createTextNode(" "), linkTo(value.link.view, value.link.text));
  box.replaceChildren(...parts);
  box.className = `action-message${value.tone ? ` notice-${value.tone}` : ""}`;
}

// One key per job for the page's life: Retry clicked again, or after an answer
// that was lost, answers the email the first retry made and sends nothing more.
function retryOf(jobId) {
  if (!state.retries.has(jobId)) state.retries.set(jobId, { key: crypto.randomUUID(), jobId: null });
  return state.retries.get(jobId);
}

async function act(action, job, message, button) {
  const say = (note) => {
    state.notes.set(job.job_id, note);
    const shown = state.detail?.jobId === job.job_id ? state.detail.row.querySelector(".action-message") : message;
    showNote(shown || message, note);
  };
  say(action === "cancel" ? "Canceling…" : "Queueing again…");
  if (button) button.disabled = true; // one request at a time
  try {
    if (action === "cancel") {
      await state.api.cancel(job.job_id);
      say("Canceled: this email will not be sent.");
    } else {
      const retry = retryOf(job.job_id);
      const answer = await state.api.retry(job.job_id, retry.key);
      say({
        text:
          answer.job_id === retry.jobId
            ? `Already queued again as a new email (${answer.job_id}): nothing more was sent.`
            : `Queued again as a new email (${answer.job_id}).`,
        link: { view: { ...state.view, job: answer.job_id }, text: "Open the new email" },
      });
      retry.jobId = answer.job_id;
    }
  } catch (error) {
    if (unauthorized(error)) return failed(error, "changing the email");
    if (error instanceof ApiError && error.status === 409 && error.code === "suppressed") {
      invalidateSuppressions(job.domain);
      say({
        tone: "refused",
        text: `Not queued again: ${error.message}`,
        link: { view: { view: "suppressions", domain: job.domain, email: job.recipient.toLowerCase() }, text: `${job.recipient} in Suppressions` },
      });
    } else if (error instanceof ApiError && error.status === 409) {
      say({ tone: "refused", text: `Not done: ${error.message}` });
    } else {
      say({ tone: "refused", text: describeError(error, action === "cancel" ? "canceling" : "retrying") });
    }
    return;
  } finally {
    if (button) {
      button.disabled = false;
      // Disabling the button took the keyboard's focus away from it: give it back.
      if (button.isConnected && keyboardLost()) button.focus();
    }
  }
  await loadLog({ quiet: true });
  if (action === "cancel") await loadDetail(job.job_id);
  // The email left the log (a filter no longer matches it): the log's heading, not nowhere.
  if (keyboardLost()) $("log-title").focus();
}

// Focus fell back to the page itself (a focused control was disabled or removed).
function keyboardLost() {
  return !document.activeElement || document.activeElement === document.body;
}

// ------------------------------------------------------------------ paging
function nextPage() {
  if (!state.nextCursor) return;
  state.previous.push(state.cursor);
  state.cursor = state.nextCursor;
  loadLog({ announce: true }).then(() => $("log-title").focus());
}

function firstPage() {
  state.previous = [];
  state.cursor = null;
  loadLog({ announce: true }).then(() => $("log-title").focus());
}

// ------------------------------------------------------------------ start
function start() {
  fillSelect($("f-status"), STATUSES);
  fillSelect($("f-type"), TYPES, TYPE_NAMES);
  $("log-title").tabIndex = -1;
  $("suppressions-title").tabIndex = -1;
  for (const id of ["bulks-title", "stats-title", "activity-title"]) $(id).tabIndex = -1;
  initBulk(page);
  initHealth(page);
  initBulks(page);
  initStats(page);
  initActivity(page);
  initSuppressions(page);

  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token-input").value.trim());
  });
  $("sign-out").addEventListener("click", () => showSignIn("Signed out. Sign in again to continue.", { signOut: true }));
  for (const id of ["expiry-renew", "bulk-expiry-renew"]) {
    $(id).addEventListener("click", () => showSignIn("Paste a fresh token to go on where you were."));
  }
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    filtersChanged();
  });
  for (const id of ["f-status", "f-type"]) $(id).addEventListener("change", filtersChanged);
  // The clear button of the search box (Enter submits the form).
  $("f-recipient").addEventListener("search", () => {
    if (!$("f-recipient").value && state.filters.recipient) filtersChanged();
  });
  $("bulk-filter-clear").addEventListener("click", () => navigate({ ...state.view, bulk: "", job: "" }));
  for (const link of document.querySelectorAll(".views a[data-view]")) {
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      navigate(parseView(new URL(link.href).search));
    });
  }
  // A click anywhere on a row opens (or closes) its email; its own controls,
  // a double click (it selects a word) and a click that ends a text
  // selection keep their meaning: the click is acted on once the time for a
  // second one has passed.
  let pendingClick = null;
  $("log-body").addEventListener("click", (event) => {
    clearTimeout(pendingClick);
    const row = event.target.closest("tr.job");
    if (!row || event.detail > 1 || event.target.closest("a, button, input, label, select, textarea, summary")) return;
    pendingClick = setTimeout(() => {
      if (String(window.getSelection() || "").trim() || !row.isConnected) return;
      toggleDetail(row.dataset.jobId);
    }, ROW_CLICK_MS);
  });
  $("next-page").addEventListener("click", nextPage);
  $("first-page").addEventListener("click", firstPage);
  window.addEventListener("popstate", () => applyView(currentView()));
  window.addEventListener("hashchange", () => {
    // A signed-in URL opened in this tab again (another token, say).
    const fresh = takeTokenFromAddress();
    if (fresh) signIn(fresh);
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.api && state.view.view === "log" && !state.refreshTimer) {
      loadLog({ quiet: true });
    }
  });
  setInterval(() => refreshTimes(), TIMES_MS);

  // Addresses of the page before its views lived in the query: #suppressions.
  if (window.location.hash === "#suppressions" || window.location.hash === "#log") {
    const view = { ...currentView(), view: window.location.hash.slice(1) };
    history.replaceState(null, "", viewHref(view));
  }
  const fromAddress = takeTokenFromAddress();
  const token = fromAddress || storedToken();
  if (token) signIn(token);
  else showSignIn();
}

start();
