// The Email Operations page (docs/page.md): the log, one email opened below its
// row, Bulk Send, and a domain's suppression list, over the API of docs/api.md.
// Everything a job carries is put on the page as text (textContent), never as
// markup; an email's HTML goes only into a sandboxed frame.

import { Api, ApiError, NetworkError } from "./api.js";
import {
  CANCELABLE, MOVING, RETRYABLE, STATUSES, TYPES, TYPE_NAMES, UNSENT,
  badge, frameDocument, splitAddresses, timeElement, timeline,
} from "./format.js";
import { forgetToken, isExpired, readClaims, storeToken, storedToken, takeTokenFromAddress } from "./token.js";

const REFRESH_MS = 3000;
const BULK_POLL_MS = 3000;
const COLUMNS = 8;

const $ = (id) => document.getElementById(id);

const state = {
  api: null,
  claims: null,
  filters: { domain: "", status: "", type: "", recipient: "" },
  cursor: null, // the cursor of the page shown (null: the first)
  previous: [], // the cursors of the pages before it
  nextCursor: null,
  jobs: new Map(), // job_id -> summary, the page shown
  selected: new Map(), // job_id -> recipient
  rows: new Map(), // job_id -> <tr>
  details: new Map(), // job_id -> <tr> of the opened email
  notes: new Map(), // job_id -> what the last Cancel or Retry answered (kept when the email is shown again)
  retries: new Map(), // job_id -> {key, jobId}: its retry's Idempotency-Key and the email that retry made
  loading: false,
  refreshTimer: null,
  expiryTimer: null,
  bulk: null, // {key, bulkId, timer}
  suppressionsCursor: null,
};

// ------------------------------------------------------------------ helpers
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function showBanner(text, { retry = null } = {}) {
  setText($("banner-text"), text);
  const button = $("banner-retry");
  button.hidden = !retry;
  button.onclick = retry;
  $("banner").hidden = false;
}

function hideBanner() {
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

// Every failure of a call lands here: 401 signs out, the rest is a banner.
function failed(error, what, retry) {
  if (error instanceof ApiError && error.status === 401) {
    showSignIn("Your token was refused or has expired. Sign in again.");
    return;
  }
  showBanner(describeError(error, what), { retry: error instanceof NetworkError ? retry : null });
}

// ------------------------------------------------------------------ sign-in
function showSignIn(reason) {
  forgetToken();
  state.api = null;
  stopRefresh();
  clearTimeout(state.expiryTimer);
  if ($("bulk").open) $("bulk").close();
  $("app").hidden = true;
  $("who").hidden = true;
  hideBanner();
  forgetData();
  $("signin").hidden = false;
  setText($("signin-reason"), reason || "Paste an admin token for your domains.");
  $("token-input").value = "";
  $("token-input").focus();
}

// Nothing one token was shown stays for the next (the filters do).
function forgetData() {
  state.jobs = new Map();
  state.rows.clear();
  state.details.clear();
  state.notes.clear();
  state.selected.clear();
  state.cursor = null;
  state.previous = [];
  state.nextCursor = null;
  $("log-body").replaceChildren();
  $("suppressions-body").replaceChildren();
  setText($("log-state"), "");
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
  clearTimeout(state.expiryTimer);
  if (claims && claims.expiresAt) {
    const wait = claims.expiresAt.getTime() - Date.now();
    if (wait < 2 ** 31) {
      state.expiryTimer = setTimeout(() => showSignIn("Your token has expired. Sign in again."), Math.max(wait, 0));
    }
  }
  buildDomainField();
  // A domain kept from before that this token does not have is dropped.
  state.filters.domain = $("f-domain").value.trim().toLowerCase();
  updateBulkButton();
  route();
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
    control.value = state.filters.domain;
  } else {
    control = el("select", { id: "f-domain", name: "domain" }, el("option", { value: "", text: "All my domains" }));
    for (const domain of claims.domains) control.append(el("option", { value: domain, text: domain }));
    control.value = claims.domains.includes(state.filters.domain) ? state.filters.domain : "";
  }
  control.addEventListener("change", filtersChanged);
  field.append(control);
}

// A selection belongs to one domain's Bulk Send: cleared at once, rows too.
function clearSelection() {
  state.selected.clear();
  for (const box of $("log-body").querySelectorAll("tr.job input[type=checkbox]")) box.checked = false;
  updateBulkButton();
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

function filtersChanged() {
  const next = readFilters();
  if (next.domain !== state.filters.domain) {
    clearSelection();
    state.suppressionsCursor = null;
  }
  state.filters = next;
  state.cursor = null;
  state.previous = [];
  updateBulkButton();
  if (currentView() === "suppressions") loadSuppressions();
  else loadLog({ announce: true });
}

// ------------------------------------------------------------------ views
function currentView() {
  return window.location.hash === "#suppressions" ? "suppressions" : "log";
}

function route() {
  if (!state.api) return;
  const view = currentView();
  $("log-view").hidden = view !== "log";
  $("suppressions-view").hidden = view !== "suppressions";
  for (const [id, name] of [["nav-log", "log"], ["nav-suppressions", "suppressions"]]) {
    if (name === view) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  if (view === "log") loadLog({ announce: true });
  else {
    stopRefresh();
    loadSuppressions();
  }
}

// ------------------------------------------------------------------ the log
function stopRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = null;
}

function scheduleRefresh() {
  stopRefresh();
  const moving = [...state.jobs.values()].some((job) => MOVING.has(job.status));
  // Not behind the Bulk Send dialog (its progress bar polls instead): the log refreshes when it closes.
  if (!moving || currentView() !== "log" || !state.api || $("bulk").open) return;
  state.refreshTimer = setTimeout(() => {
    if (document.visibilityState === "hidden") scheduleRefresh();
    else loadLog({ quiet: true });
  }, REFRESH_MS);
}

// announce: say "Loading" while it loads (a refresh does not).
async function loadLog({ announce = false } = {}) {
  if (!state.api) return;
  stopRefresh();
  const api = state.api;
  const filters = { ...state.filters };
  const cursor = state.cursor;
  state.loading = true;
  if (announce) setText($("log-state"), "Loading emails…");
  $("log").setAttribute("aria-busy", "true");
  let page;
  try {
    page = await api.listJobs(filters, cursor);
  } catch (error) {
    if (api !== state.api) return;
    state.loading = false;
    $("log").removeAttribute("aria-busy");
    setText($("log-state"), "");
    failed(error, "loading the log", () => loadLog({ announce: true }));
    if (error instanceof NetworkError) state.refreshTimer = setTimeout(() => loadLog({ quiet: true }), REFRESH_MS * 3);
    return;
  }
  // An answer for filters no longer chosen is dropped.
  if (api !== state.api || JSON.stringify(filters) !== JSON.stringify(state.filters) || cursor !== state.cursor) return;
  state.loading = false;
  $("log").removeAttribute("aria-busy");
  hideBanner();
  renderLog(page.items || []);
  state.nextCursor = page.next_cursor || null;
  $("next-page").hidden = !state.nextCursor;
  $("first-page").hidden = state.previous.length === 0;
  const emptyText = emptyLogText(filters);
  const count = (page.items || []).length;
  setText($("log-state"), count === 0 ? emptyText : logSummary(count));
  scheduleRefresh();
}

function logSummary(count) {
  const page = state.previous.length + 1;
  return `${count} email${count === 1 ? "" : "s"}, newest first${page > 1 ? ` (page ${page})` : ""}.`;
}

function emptyLogText(filters) {
  const filtered = filters.status || filters.type || filters.recipient;
  if (filters.domain) {
    return filtered ? `No emails for ${filters.domain} match these filters.` : `No emails yet for ${filters.domain}`;
  }
  return filtered ? "No emails match these filters." : "No emails yet for your domains";
}

function renderLog(items) {
  const tbody = $("log-body");
  state.jobs = new Map(items.map((job) => [job.job_id, job]));
  const wanted = [];
  for (const job of items) {
    let row = state.rows.get(job.job_id);
    if (!row) {
      row = createRow(job);
      state.rows.set(job.job_id, row);
    }
    updateRow(row, job);
    wanted.push(row);
    const detail = state.details.get(job.job_id);
    if (detail) wanted.push(detail);
  }
  for (const [jobId, row] of state.rows) {
    if (!state.jobs.has(jobId)) {
      row.remove();
      state.rows.delete(jobId);
      state.details.get(jobId)?.remove();
      state.details.delete(jobId);
    }
  }
  const focused = document.activeElement;
  placeRows(tbody, wanted);
  if (focused && focused !== document.activeElement && tbody.contains(focused)) focused.focus();
  updateBulkButton();
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
  });
  const toggle = el(
    "button",
    { type: "button", className: "toggle", "aria-label": "Show body", "aria-expanded": "false", id: `toggle-${id}` },
    el("span", { "aria-hidden": "true", className: "arrow", text: "▸" }),
  );
  toggle.addEventListener("click", () => toggleDetail(id));
  // The row's controls sit at its left, in its first cell: the table's columns
  // are the help page's eight and no others.
  const row = el(
    "tr",
    { className: "job" },
    el("td", { className: "created" }, el("span", { className: "row-controls" }, checkbox, toggle), el("span", { className: "when" })),
    el("td", { className: "domain" }),
    el("td", { className: "recipient" }),
    el("td", { className: "subject" }),
    el("td", { className: "status" }),
    el("td", { className: "attempts num" }),
    el("td", { className: "sent-at" }),
    el("td", { className: "error" }),
  );
  row.dataset.jobId = id;
  return row;
}

function updateRow(row, job) {
  const [created, domain, recipient, subject, status, attempts, sentAt, error] = row.children;
  const before = row.dataset.status;
  created.querySelector("input").checked = state.selected.has(job.job_id);
  if (row.dataset.created !== job.created_at) {
    created.querySelector(".when").replaceChildren(timeElement(job.created_at));
    row.dataset.created = job.created_at;
  }
  setText(domain, job.domain);
  setText(recipient, job.recipient);
  setText(subject, job.subject);
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
  setText(error, job.error || "");
  error.title = job.error || "";
  error.classList.toggle("has-error", Boolean(job.error));
  // An opened email follows its job.
  if (before && before !== job.status && state.details.has(job.job_id)) loadDetail(job.job_id);
}

// ------------------------------------------------------------------ one email
function toggleDetail(jobId) {
  const row = state.rows.get(jobId);
  const toggle = row.querySelector("button.toggle");
  const open = state.details.get(jobId);
  if (open) {
    open.remove();
    state.details.delete(jobId);
    state.notes.delete(jobId);
    toggle.setAttribute("aria-expanded", "false");
    toggle.removeAttribute("aria-controls");
    return;
  }
  const cell = el("td", { colspan: COLUMNS }, el("p", { className: "state", text: "Loading the email…" }));
  const detail = el("tr", { className: "detail", id: `detail-${jobId}` }, cell);
  state.details.set(jobId, detail);
  row.after(detail);
  toggle.setAttribute("aria-expanded", "true");
  toggle.setAttribute("aria-controls", detail.id);
  loadDetail(jobId);
}

async function loadDetail(jobId) {
  const detailRow = state.details.get(jobId);
  if (!detailRow) return;
  let job;
  try {
    job = await state.api.job(jobId);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return failed(error, "opening the email");
    detailRow.firstChild.replaceChildren(el("p", { className: "banner error", text: describeError(error, "opening the email") }));
    return;
  }
  if (state.details.get(jobId) !== detailRow) return;
  const focusedAction = detailRow.contains(document.activeElement) ? document.activeElement.textContent : null;
  showDetail(detailRow.firstChild, renderDetail(job));
  if (focusedAction) {
    // Keep the keyboard where it was: the same button, else the next action, else the row's arrow.
    const again = [...detailRow.querySelectorAll("button")].find((b) => b.textContent === focusedAction);
    (again || detailRow.querySelector(".actions button") || state.rows.get(jobId)?.querySelector("button.toggle"))?.focus();
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

function renderDetail(job) {
  const facts = el(
    "dl",
    { className: "facts" },
    fact("Subject", job.subject),
    fact("To", job.recipient),
    fact("Reply-To", job.reply_to),
    fact("Type", TYPE_NAMES[job.type] || job.type),
    fact("Status", badge(job.status)),
    fact("Job", job.job_id),
    fact("Bulk send", job.bulk_id),
    fact("Retry of", job.retry_of),
    fact("SES message id", job.message_id),
  );

  const body = el("section", { className: "email", "aria-label": "Email body" });
  if (job.body_html) {
    const frame = el("iframe", {
      title: `HTML body of the email to ${job.recipient}`,
      sandbox: "",
      referrerpolicy: "no-referrer",
      className: "html-body",
    });
    frame.srcdoc = frameDocument(job.body_html);
    body.append(
      el("h3", { text: "HTML" }),
      el("p", { className: "hint", text: "Shown without scripts, and remote images blocked: nothing in this preview reaches the network." }),
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

  const message = el("p", { className: "action-message", role: "status", text: state.notes.get(job.job_id) || "" });
  const actions = el("div", { className: "actions" });
  if (CANCELABLE.has(job.status)) {
    actions.append(el("button", { type: "button", className: "danger", text: "Cancel", onclick: (event) => act("cancel", job, message, event.currentTarget) }));
  }
  if (RETRYABLE.has(job.status)) {
    actions.append(el("button", { type: "button", text: "Retry", onclick: (event) => act("retry", job, message, event.currentTarget) }));
  }
  if (job.unsubscribe_url) {
    history.append(el("p", { className: "hint", text: "Sent with a one-click unsubscribe link." }));
  }
  return el("div", { className: "detail-grid" }, el("div", {}, facts, body), el("div", {}, history, actions, message));
}

// One key per job for the page's life: Retry clicked again, or after an answer
// that was lost, answers the email the first retry made and sends nothing more.
function retryOf(jobId) {
  if (!state.retries.has(jobId)) state.retries.set(jobId, { key: crypto.randomUUID(), jobId: null });
  return state.retries.get(jobId);
}

async function act(action, job, message, button) {
  const say = (text) => {
    state.notes.set(job.job_id, text);
    const shown = state.details.get(job.job_id)?.querySelector(".action-message") || message;
    setText(shown, text);
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
      say(
        answer.job_id === retry.jobId
          ? `Already queued again as a new email (${answer.job_id}): nothing more was sent.`
          : `Queued again as a new email (${answer.job_id}).`,
      );
      retry.jobId = answer.job_id;
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return failed(error, "changing the email");
    say(describeError(error, action === "cancel" ? "canceling" : "retrying"));
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

// ------------------------------------------------------------------ Bulk Send
function updateBulkButton() {
  const ready = Boolean(state.filters.domain) && state.selected.size > 0;
  $("bulk-open").disabled = !ready;
  const hint = !state.filters.domain
    ? "Choose a domain and select rows to send a bulk email."
    : state.selected.size === 0
      ? `Select rows of ${state.filters.domain} to send them a bulk email.`
      : `${state.selected.size} row${state.selected.size === 1 ? "" : "s"} selected.`;
  setText($("selection-hint"), hint);
}

// What the dialog says before queueing; the API's answer has the last word
// (it also rejects addresses that are not addresses, or suppressed).
function bulkRecipients() {
  const selected = [...state.selected.values()].map((r) => r.toLowerCase());
  const typed = splitAddresses($("bulk-extra").value).map((a) => a.toLowerCase());
  const all = new Set([...selected, ...typed]);
  return { selected: selected.length, typed: typed.length, total: all.size, duplicates: selected.length + typed.length - all.size };
}

function updateBulkCount() {
  const count = bulkRecipients();
  let text = `${count.total} recipient${count.total === 1 ? "" : "s"} (${count.selected} selected`;
  if (count.typed) text += `, ${count.typed} typed`;
  text += ")";
  if (count.duplicates) text += `, ${count.duplicates} duplicate${count.duplicates === 1 ? "" : "s"} removed`;
  setText($("bulk-count"), text);
  const subject = $("bulk-subject").value.length;
  setText($("bulk-subject-count"), `${subject} of 200 characters`);
}

function openBulk() {
  if ($("bulk-open").disabled) return;
  stopBulkPoll();
  state.bulk = { key: crypto.randomUUID(), bulkId: null, timer: null };
  setText($("bulk-domain"), state.filters.domain);
  $("bulk-form").reset();
  $("bulk-error").hidden = true;
  $("bulk-result").hidden = true;
  $("bulk-result").replaceChildren();
  for (const id of ["bulk-subject", "bulk-body", "bulk-extra", "bulk-submit"]) $(id).disabled = false;
  for (const id of ["bulk-subject", "bulk-body"]) $(id).removeAttribute("aria-invalid");
  updateBulkCount();
  $("bulk").showModal();
  $("bulk-subject").focus();
}

function bulkInvalid(field, text) {
  const error = $("bulk-error");
  setText(error, text);
  error.hidden = false;
  $(field).setAttribute("aria-invalid", "true");
  $(field).focus();
}

async function queueBulk(event) {
  event.preventDefault();
  const subject = $("bulk-subject").value;
  const body = $("bulk-body").value;
  for (const id of ["bulk-subject", "bulk-body"]) $(id).removeAttribute("aria-invalid");
  $("bulk-error").hidden = true;
  if (!subject.trim()) return bulkInvalid("bulk-subject", "Write a subject.");
  if (subject.length > 200 || /[\r\n]/.test(subject)) {
    return bulkInvalid("bulk-subject", "The subject is one line of at most 200 characters.");
  }
  if (!body.trim()) return bulkInvalid("bulk-body", "Write the email body.");
  if (body.length > 100000) return bulkInvalid("bulk-body", "The email body is at most 100,000 characters.");
  const submit = $("bulk-submit");
  submit.disabled = true;
  submit.setAttribute("aria-busy", "true");
  const payload = {
    domain: state.filters.domain,
    job_ids: [...state.selected.keys()],
    extra_recipients: $("bulk-extra").value,
    subject,
    body,
  };
  let answer;
  try {
    answer = await state.api.bulkSend(payload, state.bulk.key);
  } catch (error) {
    submit.disabled = false;
    submit.removeAttribute("aria-busy");
    if (error instanceof ApiError && error.status === 401) return failed(error, "queueing the emails");
    const error_ = $("bulk-error");
    setText(error_, describeError(error, "queueing the emails"));
    error_.hidden = false;
    submit.focus();
    return;
  }
  submit.removeAttribute("aria-busy");
  for (const id of ["bulk-subject", "bulk-body", "bulk-extra"]) $(id).disabled = true;
  showBulkResult(answer);
  // The fields and Queue Emails are done with: the keyboard goes to Close, after the result.
  $("bulk-close").focus();
  clearSelection();
  state.cursor = null;
  state.previous = [];
  loadLog({ quiet: true });
  state.bulk.bulkId = answer.bulk_id;
  pollBulk();
}

function showBulkResult(answer) {
  const result = $("bulk-result");
  const parts = [
    el("p", { className: "queued", text: `Queued ${answer.queued} email${answer.queued === 1 ? "" : "s"}.` }),
    el("p", {
      text: answer.duplicates
        ? `${answer.duplicates} duplicate${answer.duplicates === 1 ? "" : "s"} removed.`
        : "No duplicates.",
    }),
  ];
  const rejected = answer.rejected || [];
  // The answer lists the first 100 refusals; rejected_total counts them all.
  const refused = Math.max(answer.rejected_total || 0, rejected.length);
  if (rejected.length) {
    parts.push(
      el("h3", { text: `Not queued (${refused})` }),
      el(
        "ul",
        { className: "rejected" },
        ...rejected.map((r) => el("li", {}, el("code", { text: r.input }), el("span", { text: ` — ${r.reason}` }))),
      ),
    );
    if (refused > rejected.length) {
      parts.push(el("p", { className: "hint", text: `The first ${rejected.length} of ${refused} are listed.` }));
    }
    if (rejected.some((r) => /^suppressed/i.test(r.reason))) {
      parts.push(el("p", { className: "hint" }, document.createTextNode("Suppressed addresses are on the domain's "),
        el("a", { href: "#suppressions", text: "suppression list", onclick: () => $("bulk").close() }), document.createTextNode(".")));
    }
  }
  if (answer.queued > 0) {
    parts.push(
      el("label", { for: "bulk-progress", text: "Sending progress" }),
      el("progress", { id: "bulk-progress", max: answer.queued, value: 0 }),
      el("p", { id: "bulk-progress-text", className: "hint", text: `0 of ${answer.queued} past sending (0%)` }),
    );
  }
  result.replaceChildren(...parts);
  result.hidden = false;
}

function stopBulkPoll() {
  if (state.bulk && state.bulk.timer) clearTimeout(state.bulk.timer);
}

async function pollBulk() {
  const bulk = state.bulk;
  if (!bulk || !bulk.bulkId || !$("bulk").open) return;
  let progress;
  try {
    progress = await state.api.bulk(bulk.bulkId);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return failed(error, "following the bulk send");
    setText($("bulk-progress-text"), describeError(error, "following the bulk send"));
    bulk.timer = setTimeout(pollBulk, BULK_POLL_MS * 2);
    return;
  }
  if (state.bulk !== bulk) return;
  const total = progress.total || 0;
  const waiting = UNSENT.reduce((sum, status) => sum + (progress.counts[status] || 0), 0);
  const done = total - waiting;
  const percent = total ? Math.floor((done * 100) / total) : 100;
  const bar = $("bulk-progress");
  if (bar) {
    bar.max = total || 1;
    bar.value = total ? done : 1;
  }
  const counts = STATUSES.filter((s) => progress.counts[s]).map((s) => `${progress.counts[s]} ${s}`).join(", ");
  setText($("bulk-progress-text"), `${done} of ${total} past sending (${percent}%)${counts ? ` — ${counts}` : ""}`);
  if (waiting > 0) bulk.timer = setTimeout(pollBulk, BULK_POLL_MS);
}

// ------------------------------------------------------------------ suppressions
async function loadSuppressions({ more = false } = {}) {
  const domain = state.filters.domain;
  const stateText = $("suppressions-state");
  setText($("suppressions-title"), domain ? `Suppressions for ${domain}` : "Suppressions");
  if (!domain) {
    $("suppressions-wrap").hidden = true;
    $("suppressions-next").hidden = true;
    setText(stateText, "Choose a domain above to see its suppression list.");
    return;
  }
  if (!more) state.suppressionsCursor = null;
  setText(stateText, "Loading the suppression list…");
  let page;
  try {
    page = await state.api.suppressions(domain, state.suppressionsCursor);
  } catch (error) {
    setText(stateText, "");
    failed(error, "loading the suppression list", () => loadSuppressions());
    return;
  }
  if (domain !== state.filters.domain) return;
  hideBanner();
  const tbody = $("suppressions-body");
  const rows = (page.items || []).map((entry) => suppressionRow(domain, entry));
  if (more) tbody.append(...rows);
  else tbody.replaceChildren(...rows);
  state.suppressionsCursor = page.next_cursor || null;
  $("suppressions-next").hidden = !state.suppressionsCursor;
  const count = tbody.children.length;
  $("suppressions-wrap").hidden = count === 0;
  setText(stateText, count === 0 ? `No suppressed addresses for ${domain}.` : `${count} suppressed address${count === 1 ? "" : "es"}.`);
}

let suppressionIds = 0;

function suppressionRow(domain, entry) {
  const emailId = `suppressed-${++suppressionIds}`;
  const remove = el("button", { type: "button", className: "secondary", text: "Remove", "aria-describedby": emailId });
  const row = el(
    "tr",
    {},
    el("td", { id: emailId, text: entry.email }),
    el("td", {}, el("span", { className: `reason reason-${entry.reason}`, text: entry.reason })),
    el("td", {}, timeElement(entry.created_at)),
    el("td", { className: "mono", text: entry.job_id || "—" }),
    el("td", {}, remove),
  );
  remove.addEventListener("click", async () => {
    remove.disabled = true;
    try {
      await state.api.unsuppress(domain, entry.email);
    } catch (error) {
      remove.disabled = false;
      if (error instanceof ApiError && error.status === 404) {
        row.remove();
      } else {
        failed(error, "removing the address", null);
        return;
      }
    }
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    const left = $("suppressions-body").children.length;
    $("suppressions-wrap").hidden = left === 0;
    setText(
      $("suppressions-state"),
      `${entry.email} removed: ${domain}'s emails reach it again. ${left === 0 ? `No suppressed addresses for ${domain}.` : ""}`.trim(),
    );
    (next?.querySelector("button") || $("suppressions-title")).focus();
  });
  return row;
}

// ------------------------------------------------------------------ start
function start() {
  fillSelect($("f-status"), STATUSES);
  fillSelect($("f-type"), TYPES, TYPE_NAMES);
  $("log-title").tabIndex = -1;
  $("suppressions-title").tabIndex = -1;

  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token-input").value.trim());
  });
  $("sign-out").addEventListener("click", () => showSignIn("Signed out. Sign in again to continue."));
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    filtersChanged();
  });
  for (const id of ["f-status", "f-type"]) $(id).addEventListener("change", filtersChanged);
  // The clear button of the search box (Enter submits the form).
  $("f-recipient").addEventListener("search", () => {
    if (!$("f-recipient").value && state.filters.recipient) filtersChanged();
  });
  $("next-page").addEventListener("click", nextPage);
  $("first-page").addEventListener("click", firstPage);
  $("suppressions-next").addEventListener("click", () => loadSuppressions({ more: true }));
  $("bulk-open").addEventListener("click", openBulk);
  $("bulk-close").addEventListener("click", () => $("bulk").close());
  $("bulk").addEventListener("close", () => {
    stopBulkPoll();
    if (state.api && currentView() === "log") loadLog();
    if ($("bulk-open").disabled) $("log-title").focus();
  });
  $("bulk-form").addEventListener("submit", queueBulk);
  for (const id of ["bulk-extra", "bulk-subject"]) $(id).addEventListener("input", updateBulkCount);
  window.addEventListener("hashchange", () => {
    // A signed-in URL opened in this tab again (another token, say).
    const fresh = takeTokenFromAddress();
    if (fresh) signIn(fresh);
    else route();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.api && currentView() === "log" && !state.refreshTimer) {
      loadLog({ quiet: true });
    }
  });

  const fromAddress = takeTokenFromAddress();
  const token = fromAddress || storedToken();
  if (token) signIn(token);
  else showSignIn();
}

start();
