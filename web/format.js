// Words, badges and times: how the page shows what the API returns.

export const STATUSES = [
  "queued", "sending", "retrying", "sent", "delayed", "delivered",
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
export const MOVING = new Set(["queued", "sending", "retrying", "sent", "delayed"]);
// Not yet past sending: a bulk's progress counts the others as done.
export const UNSENT = ["queued", "sending", "retrying"];
export const CANCELABLE = new Set(["queued", "retrying"]);
export const RETRYABLE = new Set(["failed", "bounced", "canceled"]);

// Word + colour + shape: colour alone is lost on some admins.
const BADGES = {
  queued: ["neutral", "◷"],
  sending: ["neutral", "➤"],
  retrying: ["warning", "↻"],
  sent: ["good", "✓"],
  delayed: ["warning", "⧗"],
  delivered: ["good", "✔"],
  bounced: ["bad", "✕"],
  complained: ["bad", "⚑"],
  failed: ["bad", "✕"],
  suppressed: ["muted", "⊘"],
  canceled: ["muted", "⊘"],
};

export function badge(status) {
  const [tone, shape] = BADGES[status] || ["neutral", "•"];
  const span = document.createElement("span");
  span.className = `badge badge-${tone}`;
  const icon = document.createElement("span");
  icon.className = "badge-shape";
  icon.setAttribute("aria-hidden", "true");
  icon.textContent = shape;
  span.append(icon, document.createTextNode(status));
  return span;
}

const LOCAL = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
});

export function utcText(iso) {
  return `${iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", "")} UTC`;
}

// A <time> in the browser's zone, with the UTC time on hover.
export function timeElement(iso) {
  const time = document.createElement("time");
  if (!iso) {
    time.textContent = "—";
    return time;
  }
  const when = new Date(iso);
  time.dateTime = iso;
  time.title = utcText(iso);
  time.textContent = Number.isNaN(when.getTime()) ? iso : LOCAL.format(when);
  return time;
}

// One sentence per line of the timeline (attempt log and delivery events merged).
export function timeline(detail) {
  const lines = [];
  for (const attempt of detail.attempt_log || []) {
    let text;
    if (attempt.outcome === "sent") text = "Accepted by SES.";
    else if (attempt.outcome === "retry") text = `Attempt failed for now; it will be tried again${attempt.error ? `: ${attempt.error}` : "."}`;
    else text = `Attempt failed for good${attempt.error ? `: ${attempt.error}` : "."}`;
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

// Split like the API splits additional recipients.
export function splitAddresses(text) {
  return (text || "").split(/[\s,;]+/).map((a) => a.trim()).filter(Boolean);
}

// The email's HTML as the sandboxed frame's document: no script (the sandbox),
// nothing from the network (this policy and the page's own), links that open nothing.
const FRAME_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:";

export function frameDocument(html) {
  return `<!doctype html><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${FRAME_POLICY}"><base target="_blank">${html}`;
}
