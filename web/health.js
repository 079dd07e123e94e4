// Domain health: the chosen domain's bounce and complaint rates of the last
// 24 hours beside the limits that pause its bulk sends (GET
// /domains/{domain}/health). While the domain is paused, the region says so
// and why, and the Bulk Send dialog cannot queue (bulk.js asks here before
// the admin writes anything); a test email still goes.

import { ApiError } from "./api.js";
import { $, el } from "./dom.js";

// How long an answer stands for the domain (the region refreshes itself this often).
const FRESH_MS = 60_000;

let page; // app.js's context
let known = null; // {domain, health, at} of the last answer
let asking = null; // {domain, promise} of the request under way
let timer = null;
const listeners = new Set();

export function initHealth(context) {
  page = context;
}

// Called with the domain's health (or null) whenever a new answer arrives.
export function onHealth(listener) {
  listeners.add(listener);
}

export function percent(rate, digits = 2) {
  const value = Number(rate || 0) * 100;
  // As precise as the limit needs: 0.1% is not 0%.
  return `${value.toFixed(digits).replace(/\.?0+$/, "")}%`;
}

// The health known for the domain (null when not known).
export function healthOf(domain) {
  return known && known.domain === domain ? known.health : null;
}

// A fresh answer for the domain (at most `maxAge` old); null when it cannot be had.
export async function checkHealth(domain, { maxAge = FRESH_MS } = {}) {
  if (!domain || !page.api()) return null;
  if (known && known.domain === domain && Date.now() - known.at < maxAge) return known.health;
  if (asking && asking.domain === domain) return asking.promise;
  const promise = (async () => {
    try {
      const health = await page.api().health(domain);
      known = { domain, health, at: Date.now() };
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        page.failed(error, "reading the domain's health");
        return null;
      }
      known = { domain, health: null, error: page.describeError(error, "reading the domain's health"), at: Date.now() };
    } finally {
      asking = null;
    }
    if (domain === page.state.filters.domain) show();
    for (const listener of listeners) listener(known.health, domain);
    return known.health;
  })();
  asking = { domain, promise };
  return promise;
}

// The chosen domain changed (or the page signed in): the region follows it.
export function followDomain() {
  clearTimeout(timer);
  const domain = page.state.filters.domain;
  if (!domain || !page.api()) {
    $("health").hidden = true;
    return;
  }
  if (!known || known.domain !== domain) {
    $("health-text").replaceChildren(el("span", { className: "hint", text: `Reading ${domain}'s rates…` }));
  } else show();
  $("health").hidden = false;
  checkHealth(domain).then(() => {
    clearTimeout(timer);
    timer = setTimeout(followDomain, FRESH_MS);
  });
}

export function stopHealth() {
  clearTimeout(timer);
  known = null;
  $("health").hidden = true;
}

// A 409 domain_paused answered a bulk send: what is known is out of date.
export function forgetHealth() {
  known = null;
}

function show() {
  const box = $("health");
  const text = $("health-text");
  if (!known) return;
  if (!known.health) {
    box.className = "health";
    text.replaceChildren(el("span", { className: "hint", text: known.error || "Could not read the domain's rates." }));
    return;
  }
  const h = known.health;
  const rates = el(
    "span",
    { className: "rates" },
    el("span", { text: `${h.domain}, last ${h.window_hours} hours: ${h.sent} sent` }),
    rate("Bounce rate", h.bounce_rate, h.bounce_rate_limit, `${h.bounced} bounced`),
    rate("Complaint rate", h.complaint_rate, h.complaint_rate_limit, `${h.complained} complained`),
  );
  box.className = h.paused ? "health paused" : "health";
  if (h.paused) {
    // The API's message says that it is paused, why and how to resume.
    text.replaceChildren(
      el("strong", { className: "paused-word", text: h.message || `Bulk sends of ${h.domain} are paused: its bounce or complaint rate passed the limit.` }),
      rates,
    );
  } else {
    // Over a limit but not paused: too few emails to judge yet, or the domain is exempt.
    const over = Number(h.bounce_rate) >= Number(h.bounce_rate_limit) || Number(h.complaint_rate) >= Number(h.complaint_rate_limit);
    text.replaceChildren(
      rates,
      el("span", { className: "ok-word", text: "Bulk sends allowed." }),
      ...(over ? [el("span", { className: "hint", text: "A rate is over its limit, but the service does not judge it yet (too few emails, or the domain is exempt)." })] : []),
    );
  }
}

function rate(name, value, limit, counted) {
  const over = Number(value) >= Number(limit) && Number(limit) > 0;
  return el(
    "span",
    { className: over ? "rate over" : "rate" },
    el("span", { className: "rate-name", text: `${name} ` }),
    el("strong", { text: percent(value) }),
    el("span", { text: ` (limit ${percent(limit)}; ${counted})` }),
  );
}
