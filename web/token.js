// The admin's token: read from #token=<jwt> or the sign-in field, kept in this
// tab's sessionStorage only. Its claims are read (not verified: the API does
// that) to list the caller's domains and to notice when it has expired.

const KEY = "emailops.token";

export function takeTokenFromAddress() {
  const hash = window.location.hash.replace(/^#/, "");
  const params = new URLSearchParams(hash);
  const token = params.get("token");
  if (token === null) return null;
  // Out of the address bar (and the history) at once.
  history.replaceState(null, "", window.location.pathname + window.location.search);
  return token.trim();
}

export function storedToken() {
  return sessionStorage.getItem(KEY);
}

export function storeToken(token) {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(KEY);
}

function base64UrlJson(part) {
  const padded = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

// {domains: [...] | ["*"], expiresAt: Date | null, subject: the `sub` or null}, or null when it is no JWT.
export function readClaims(token) {
  const parts = (token || "").split(".");
  if (parts.length !== 3) return null;
  let claims;
  try {
    claims = base64UrlJson(parts[1]);
  } catch {
    return null;
  }
  if (!claims || typeof claims !== "object") return null;
  const raw = typeof claims.domains === "string" ? claims.domains : "";
  const domains = [...new Set(raw.split(/\s+/).filter(Boolean).map((d) => d.toLowerCase()))].sort();
  const expiresAt = typeof claims.exp === "number" ? new Date(claims.exp * 1000) : null;
  const subject = typeof claims.sub === "string" ? claims.sub : null;
  return { domains, expiresAt, everyDomain: domains.includes("*"), subject };
}

export function isExpired(claims, now = new Date()) {
  return Boolean(claims && claims.expiresAt && claims.expiresAt <= now);
}
