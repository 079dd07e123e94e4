// Words, badges, times and errors: how the page shows what the API returns.

export const STATUSES = [
  "scheduled", "queued", "sending", "retrying", "sent", "delayed", "delivered",
  "bounced", "complained", "failed", "suppressed", "canceled",
];
export const TYPES = ["ai_followup", "visitor_capture", "escalation", "invitation", "manual"];
export const TYPE_NAMES = {
  ai_followup: "AI follow-up",
  visitor_capture: "Visitor capture",
  escalation: "Escalation",
  invitation: "Invitation",
  manual: "Manual (bulk)",
};

// Still moving: the log refreshes itself while a visible job is one of these.
export const MOVING = new Set(["scheduled", "queued", "sending", "retrying", "sent", "delayed"]);
// Not yet past sending: a bulk's progress counts the others as done.
export const UNSENT = ["scheduled", "queued", "sending", "retrying"];
export const CANCELABLE = new Set(["scheduled", "queued", "retrying"]);
export const RETRYABLE = new Set(["failed", "bounced", "canceled"]);
// Final and not what was wanted: the error is shown in the danger colour.
export const FAILED = new Set(["failed", "bounced", "complained", "suppressed"]);

// Each status its own word, colour and shape: colour alone is lost on some
// admins, and the shape alone on others. The colours are style.css's
// --status-<name> pairs (each passes WCAG AA contrast in light and dark).
export const STATUS_SHAPES = {
  scheduled: "◷", // a clock: waiting for its time
  queued: "⋯", // in line
  sending: "➤",
  retrying: "↻",
  sent: "↗", // handed to SES
  delayed: "⧗",
  delivered: "✔",
  bounced: "↩", // came back
  complained: "⚑", // flagged as spam
  failed: "✖",
  suppressed: "⊘",
  canceled: "⊖",
};

export function badge(status) {
  const span = document.createElement("span");
  span.className = `badge status-${STATUS_SHAPES[status] ? status : "unknown"}`;
  span.dataset.status = status;
  const icon = document.createElement("span");
  icon.className = "badge-shape";
  icon.setAttribute("aria-hidden", "true");
  icon.textContent = STATUS_SHAPES[status] || "•";
  span.append(icon, document.createTextNode(status));
  return span;
}

// ------------------------------------------------------------------ errors
// The service writes an error as "<SES's code>: <a plain cause and what to do>"
// (or the plain cause alone). The admin reads the cause first.
const CODED = /^([A-Z][A-Za-z0-9._]{2,63}): ([\s\S]+)$/;

// SES's back-pressure: the email waits for SES, nothing is wrong with it.
const BACK_PRESSURE = new Set([
  "TooManyRequestsException", "LimitExceededException", "SendingPausedException",
  "Throttling", "ThrottlingException", "RequestLimitExceeded",
]);

export function readError(error) {
  if (!error) return null;
  const match = CODED.exec(error);
  const code = match ? match[1] : null;
  const cause = match ? match[2] : error;
  return { code, cause, backPressure: Boolean(code && BACK_PRESSURE.has(code)) || /send rate reached/.test(cause) };
}

// How a job's error reads where it stands: "waiting" (SES's back-pressure on
// an email that will be sent), "transient" (it will be tried again), "final".
export function errorTone(status, error) {
  const read = readError(error);
  if (!read) return null;
  if (status === "retrying") return read.backPressure ? "waiting" : "transient";
  if (FAILED.has(status)) return "final";
  return "note";
}

// The error as page nodes: the cause, then SES's code in a <code>.
export function errorNodes(status, error) {
  const read = readError(error);
  if (!read) return [];
  const nodes = [];
  if (status === "retrying" && read.backPressure) {
    const lead = document.createElement("strong");
    lead.textContent = "Waiting: ";
    nodes.push(lead);
  }
  nodes.push(document.createTextNode(read.cause));
  if (read.code) {
    const code = document.createElement("code");
    code.className = "ses-code";
    code.textContent = read.code;
    nodes.push(document.createTextNode(" "), code);
  }
  return nodes;
}

// The same in one line of text, the cause first (a tooltip, a timeline line).
export function errorText(error) {
  const read = readError(error);
  if (!read) return "";
  return read.code ? `${read.cause} (${read.code})` : read.cause;
}

// ------------------------------------------------------------------ times
const ABSOLUTE = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric",
  hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
});
// The same in two parts, the day and the time of day, each on a line of its own in a narrow column.
const DAY = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
const CLOCK = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
});
const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const STEPS = [
  [60, "second"], [60, "minute"], [24, "hour"], [30, "day"], [12, "month"], [Infinity, "year"],
];

export function utcText(iso) {
  return `${iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", "")} UTC`;
}

export function absoluteText(date) {
  return ABSOLUTE.format(date);
}

// "3 minutes ago", "in 2 hours"; "just now" within 10 seconds.
export function relativeText(date, now = Date.now()) {
  let amount = (date.getTime() - now) / 1000;
  if (Math.abs(amount) < 10) return "just now";
  for (const [size, unit] of STEPS) {
    if (Math.abs(amount) < size) return RELATIVE.format(Math.round(amount), unit);
    amount /= size;
  }
  return "";
}

// A <time> with the year and the time zone (the browser's), the exact UTC
// time on hover, and how long ago beside it (kept current by refreshTimes).
export function timeElement(iso) {
  const wrap = document.createElement("span");
  wrap.className = "when";
  const time = document.createElement("time");
  if (!iso) {
    time.textContent = "—";
    wrap.append(time);
    return wrap;
  }
  const when = new Date(iso);
  time.dateTime = iso;
  time.title = utcText(iso);
  if (Number.isNaN(when.getTime())) {
    time.textContent = iso;
    wrap.append(time);
    return wrap;
  }
  const day = document.createElement("span");
  day.className = "day";
  day.textContent = `${DAY.format(when)},`;
  const clock = document.createElement("span");
  clock.className = "clock";
  clock.textContent = CLOCK.format(when);
  time.append(day, " ", clock);
  const ago = document.createElement("span");
  ago.className = "ago";
  ago.dataset.at = iso;
  ago.textContent = relativeText(when);
  wrap.append(time, " ", ago);
  return wrap;
}

export function refreshTimes(root = document) {
  const now = Date.now();
  for (const ago of root.querySelectorAll(".ago[data-at]")) {
    const text = relativeText(new Date(ago.dataset.at), now);
    if (ago.textContent !== text) ago.textContent = text;
  }
}

// ------------------------------------------------------------------ the timeline
// One sentence per line of the timeline (attempt log and delivery events merged).
export function timeline(detail) {
  const lines = [];
  for (const attempt of detail.attempt_log || []) {
    const read = readError(attempt.error);
    const repeated = attempt.repeated > 1 ? ` (${attempt.repeated} times in a row)` : "";
    let text;
    if (attempt.outcome === "sent") text = "Accepted by SES.";
    else if (attempt.outcome === "retry" && read && read.backPressure) {
      text = `Waiting for SES${repeated}; it will be tried again: ${errorText(attempt.error)}`;
    } else if (attempt.outcome === "retry") {
      text = `Attempt failed for now${repeated}; it will be tried again${read ? `: ${errorText(attempt.error)}` : "."}`;
    } else text = `Attempt failed for good${read ? `: ${errorText(attempt.error)}` : "."}`;
    lines.push({ at: attempt.at, kind: `attempt-${attempt.outcome}`, label: "Attempt", text });
  }
  const EVENT_WORDS = {
    delivered: "Delivered to the recipient's mail server.",
    delayed: "Delivery delayed.",
    bounced: "Bounced.",
    complained: "The recipient marked it as spam.",
    rejected: "Rejected by SES.",
  };
  for (const event of detail.events || []) {
    const lead = EVENT_WORDS[event.type] || `${event.type}.`;
    lines.push({ at: event.at, kind: `event-${event.type}`, label: "Event", text: event.detail ? `${lead} ${event.detail}` : lead });
  }
  lines.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return lines;
}

// A job whose own events put its recipient on the domain's suppression list:
// a permanent bounce or a complaint (section 7 of the contract).
export function suppressingEvent(detail) {
  return (detail.events || []).find(
    (event) => event.type === "complained" || (event.type === "bounced" && /permanent/i.test(event.detail || "")),
  ) || null;
}

// Split like the API splits additional recipients.
export function splitAddresses(text) {
  return (text || "").split(/[\s,;]+/).map((a) => a.trim()).filter(Boolean);
}
