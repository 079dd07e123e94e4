// Bulk Send: the button, the dialog, what it reports and the bulk's progress.
// Its draft (the fields and the selected rows) is kept in the tab while the
// dialog is open, so that an expired token loses none of it (draft.js).
// `Send at` schedules the bulk send; `Send test` sends the email to one
// address first (POST /jobs/test); a paused domain (health.js) cannot queue,
// and the dialog says so when it opens, before anything is written.

import { ApiError } from "./api.js";
import { $, el, setText } from "./dom.js";
import { forgetDraft, loadDraft, saveDraft } from "./draft.js";
import { MOVING, STATUSES, UNSENT, absoluteText, splitAddresses } from "./format.js";
import { checkHealth, forgetHealth, healthOf, onHealth } from "./health.js";

const BULK_POLL_MS = 3000;
// The contract's furthest send_at.
const MAX_AHEAD_MS = 30 * 24 * 3600 * 1000;
const FIELDS = ["bulk-subject", "bulk-body", "bulk-extra", "bulk-send-at", "bulk-test-to"];

let page; // app.js's context: state, api(), failed, describeError, navigate, loadLog, ...
let bulk = null; // {key, bulkId, timer} of the dialog opened

export function initBulk(context) {
  page = context;
  $("bulk-open").addEventListener("click", () => openBulk());
  $("bulk-close").addEventListener("click", () => $("bulk").close());
  $("bulk").addEventListener("close", closed);
  $("bulk-form").addEventListener("submit", queueBulk);
  $("bulk-test").addEventListener("click", sendTest);
  onHealth((health, domain) => {
    if ($("bulk").open && domain === page.state.filters.domain) showPaused(health);
    updateBulkButton();
  });
  for (const id of ["bulk-extra", "bulk-subject", "bulk-body", "bulk-send-at", "bulk-test-to"]) {
    $(id).addEventListener("input", () => {
      updateBulkCount();
      page.keepDraft();
    });
  }
}

export function bulkDialogOpen() {
  return $("bulk").open;
}

export function updateBulkButton() {
  const { filters, selected } = page.state;
  const ready = Boolean(filters.domain) && selected.size > 0;
  $("bulk-open").disabled = !ready;
  const health = filters.domain ? healthOf(filters.domain) : null;
  const paused = health && health.paused ? ` Bulk sends of ${filters.domain} are paused: Bulk Send opens for a test email only.` : "";
  const hint = !filters.domain
    ? "Choose a domain and select rows to send a bulk email."
    : selected.size === 0
      ? `Select rows of ${filters.domain} to send them a bulk email.${paused}`
      : `${selected.size} row${selected.size === 1 ? "" : "s"} selected.${paused}`;
  setText($("selection-hint"), hint);
}

// The draft as it stands: the selection of the chosen domain, and the
// dialog's fields while it is open and not yet queued.
export function draftNow() {
  const { filters, selected } = page.state;
  if (!filters.domain) return null;
  const open = $("bulk").open && bulk && !bulk.bulkId;
  return {
    domain: filters.domain,
    selected: [...selected],
    dialog: open
      ? {
        subject: $("bulk-subject").value,
        body: $("bulk-body").value,
        extra: $("bulk-extra").value,
        sendAt: $("bulk-send-at").value,
        testTo: $("bulk-test-to").value,
        key: bulk.key,
      }
      : null,
  };
}

// The token expired (or was refused): the dialog closes, its draft stays.
export function closeBulkForSignIn() {
  stopBulkPoll();
  if ($("bulk").open) $("bulk").close();
}

function closed() {
  stopBulkPoll();
  const { state } = page;
  if (!state.api) return; // closed for signing in again: the draft stays
  // Closed by the admin: the dialog's fields go, the selection stays.
  const draft = loadDraft();
  if (draft) saveDraft({ ...draft, dialog: null });
  if (state.view.view === "log") page.loadLog();
  if ($("bulk-open").disabled) page.focusLog();
}

// What the dialog says before queueing; the API's answer has the last word
// (it also rejects addresses that are not addresses, or suppressed).
function bulkRecipients() {
  const selected = [...page.state.selected.values()].map((r) => r.toLowerCase());
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

// A datetime-local value of a Date (the browser's time zone, to the minute).
function localValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// restore: a draft's fields ({subject, body, extra, sendAt, testTo, key}) to open with.
export function openBulk(restore = null) {
  if ($("bulk-open").disabled) return;
  if ($("bulk").open) return;
  stopBulkPoll();
  const domain = page.state.filters.domain;
  bulk = { key: (restore && restore.key) || crypto.randomUUID(), bulkId: null, timer: null, test: null, domain };
  setText($("bulk-domain"), domain);
  $("bulk-form").reset();
  if (restore) {
    $("bulk-subject").value = restore.subject || "";
    $("bulk-body").value = restore.body || "";
    $("bulk-extra").value = restore.extra || "";
    $("bulk-send-at").value = restore.sendAt || "";
    $("bulk-test-to").value = restore.testTo || "";
  }
  const now = new Date();
  $("bulk-send-at").min = localValue(now);
  $("bulk-send-at").max = localValue(new Date(now.getTime() + MAX_AHEAD_MS));
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "your time zone";
  setText($("bulk-send-at-hint"), `Optional: empty sends at once. Your time zone (${zone}); at most 30 days ahead.`);
  $("bulk-error").hidden = true;
  $("bulk-result").hidden = true;
  $("bulk-result").replaceChildren();
  setText($("bulk-test-result"), "");
  for (const id of [...FIELDS, "bulk-submit", "bulk-test"]) $(id).disabled = false;
  for (const id of FIELDS) $(id).removeAttribute("aria-invalid");
  // What is known of the domain at once; a fresh answer follows (onHealth).
  showPaused(healthOf(domain));
  checkHealth(domain, { maxAge: 10_000 });
  updateBulkCount();
  $("bulk").showModal();
  $("bulk-subject").focus();
  page.keepDraft();
}

// A paused domain's dialog says so, and Queue Emails is not usable (Send test is).
function showPaused(health) {
  const box = $("bulk-paused");
  const paused = Boolean(health && health.paused && bulk && !bulk.bulkId);
  box.hidden = !paused;
  if (paused) {
    box.replaceChildren(
      el("strong", { text: health.message || `Bulk sends of ${health.domain} are paused: its bounce or complaint rate passed the limit.` }),
      el("span", { text: " Queue Emails is not possible until then; Send test still sends a test email." }),
    );
  }
  if (!bulk || bulk.bulkId) return;
  $("bulk-submit").disabled = paused;
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
  const sendAt = readSendAt();
  if (sendAt === undefined) return;
  const submit = $("bulk-submit");
  submit.disabled = true;
  submit.setAttribute("aria-busy", "true");
  const { state } = page;
  const payload = {
    domain: state.filters.domain,
    job_ids: [...state.selected.keys()],
    extra_recipients: $("bulk-extra").value,
    subject,
    body,
  };
  // RFC 3339 in UTC, to the second (the field has minutes).
  if (sendAt) payload.send_at = sendAt.toISOString().replace(/\.\d{3}Z$/, "Z");
  const opened = bulk;
  let answer;
  try {
    answer = await page.api().bulkSend(payload, opened.key);
  } catch (error) {
    submit.disabled = false;
    submit.removeAttribute("aria-busy");
    if (error instanceof ApiError && error.status === 401) return page.failed(error, "queueing the emails");
    if (error instanceof ApiError && error.code === "domain_paused") {
      // Paused since the dialog opened: the dialog and the region say so from now on.
      forgetHealth();
      checkHealth(payload.domain);
    }
    if (error instanceof ApiError && error.code === "invalid_send_at") $("bulk-send-at").setAttribute("aria-invalid", "true");
    const shown = $("bulk-error");
    setText(shown, page.describeError(error, "queueing the emails"));
    shown.hidden = false;
    submit.focus();
    return;
  }
  submit.removeAttribute("aria-busy");
  for (const id of FIELDS) $(id).disabled = true;
  $("bulk-test").disabled = true;
  opened.bulkId = answer.bulk_id;
  opened.sendAt = sendAt;
  // Queued: nothing of it is a draft any more.
  forgetDraft();
  showBulkResult(answer);
  // The fields and Queue Emails are done with: the keyboard goes to Close, after the result.
  $("bulk-close").focus();
  page.clearSelection();
  state.cursor = null;
  state.previous = [];
  page.loadLog({ quiet: true });
  pollBulk();
}

function showBulkResult(answer) {
  const { state } = page;
  const result = $("bulk-result");
  const parts = [
    el("p", {
      className: "queued",
      text: `Queued ${answer.queued} email${answer.queued === 1 ? "" : "s"}${bulk && bulk.sendAt ? `, to be sent at ${absoluteText(bulk.sendAt)}` : ""}.`,
    }),
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
      const view = { view: "suppressions", domain: state.filters.domain };
      const link = el("a", { href: `?view=suppressions&domain=${encodeURIComponent(view.domain)}`, text: "suppression list" });
      link.addEventListener("click", (event) => {
        event.preventDefault();
        $("bulk").close();
        page.navigate(view);
      });
      parts.push(el("p", { className: "hint" }, document.createTextNode("Suppressed addresses are on the domain's "), link, document.createTextNode(".")));
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
  if (bulk && bulk.timer) clearTimeout(bulk.timer);
  if (bulk && bulk.test && bulk.test.timer) clearTimeout(bulk.test.timer);
}

// The Send at field as a Date (null: at once); undefined when it is refused.
function readSendAt() {
  const field = $("bulk-send-at");
  field.removeAttribute("aria-invalid");
  let refused = null;
  const at = field.value ? new Date(field.value) : null;
  if (!field.value && field.validity.badInput) refused = "Send at is not a complete date and time.";
  else if (at && Number.isNaN(at.getTime())) refused = "Send at is not a date and time.";
  else if (at && at.getTime() - Date.now() > MAX_AHEAD_MS) refused = "Send at is at most 30 days ahead.";
  if (!refused) return at;
  bulkInvalid("bulk-send-at", refused);
  return undefined;
}

// ------------------------------------------------------------------ Send test
async function sendTest() {
  const opened = bulk;
  if (!opened) return;
  const to = $("bulk-test-to");
  const subject = $("bulk-subject").value;
  const body = $("bulk-body").value;
  for (const id of FIELDS) $(id).removeAttribute("aria-invalid");
  $("bulk-error").hidden = true;
  if (!to.value.trim() || !to.checkValidity()) return bulkInvalid("bulk-test-to", "Write the address to send the test email to.");
  if (!subject.trim()) return bulkInvalid("bulk-subject", "Write a subject: the test email has the same.");
  if (subject.length > 200 || /[\r\n]/.test(subject)) return bulkInvalid("bulk-subject", "The subject is one line of at most 200 characters.");
  if (!body.trim()) return bulkInvalid("bulk-body", "Write the email body: the test email has the same.");
  const button = $("bulk-test");
  button.disabled = true;
  const address = to.value.trim();
  setText($("bulk-test-result"), `Sending a test email to ${address}…`);
  let answer;
  try {
    answer = await page.api().testSend({ domain: opened.domain, to: address, subject, body });
  } catch (error) {
    button.disabled = false;
    if (error instanceof ApiError && error.status === 401) return page.failed(error, "sending the test email");
    setText($("bulk-test-result"), `Test email not sent: ${page.describeError(error, "sending the test email")}`);
    button.focus();
    return;
  }
  button.disabled = Boolean(opened.bulkId);
  // Disabling it took the keyboard's focus away: give it back.
  if (!document.activeElement || document.activeElement === document.body) button.focus();
  if (opened.test && opened.test.timer) clearTimeout(opened.test.timer);
  opened.test = { jobId: answer.job_id, to: address, timer: null, polls: 0 };
  setText($("bulk-test-result"), `Test email to ${address} queued.`);
  followTest(opened);
}

// The test email's status, said as it moves, until it settles.
async function followTest(opened) {
  const test = opened.test;
  if (!test || bulk !== opened || !$("bulk").open) return;
  let job;
  try {
    job = await page.api().job(test.jobId);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return page.failed(error, "following the test email");
    job = null;
  }
  if (bulk !== opened || opened.test !== test) return;
  if (job) {
    const words = {
      delivered: "delivered to its mail server",
      sent: "accepted by SES",
      bounced: "bounced",
      complained: "marked as spam",
      failed: "failed",
      suppressed: "not sent: the address is on the suppression list",
    };
    const said = words[job.status] || job.status;
    const error = job.error && !MOVING.has(job.status) ? ` (${job.error})` : "";
    setText($("bulk-test-result"), `Test email to ${test.to}: ${said}${error}.`);
  }
  test.polls += 1;
  if ((!job || MOVING.has(job.status)) && test.polls < 40) test.timer = setTimeout(() => followTest(opened), BULK_POLL_MS);
}

async function pollBulk() {
  const polled = bulk;
  if (!polled || !polled.bulkId || !$("bulk").open) return;
  let progress;
  try {
    progress = await page.api().bulk(polled.bulkId);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return page.failed(error, "following the bulk send");
    setText($("bulk-progress-text"), page.describeError(error, "following the bulk send"));
    polled.timer = setTimeout(pollBulk, BULK_POLL_MS * 2);
    return;
  }
  if (bulk !== polled) return;
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
  if (waiting > 0) polled.timer = setTimeout(pollBulk, BULK_POLL_MS);
}
