// The HTTP API of docs/api.md, on this page's own origin, with the admin's token.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The service could not be reached (no answer at all).
export class NetworkError extends Error {}

export class Api {
  constructor(token) {
    this.token = token;
  }

  async request(method, path, body, extraHeaders = {}) {
    const headers = { ...extraHeaders, Authorization: `Bearer ${this.token}` };
    const init = { method, headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new NetworkError("Could not reach the service.");
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(
        response.status,
        error.code || (data && data.message) || "error",
        error.message || (data && data.message) || `The service answered ${response.status}.`,
      );
    }
    return data;
  }

  listJobs(filters, cursor) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) {
      if (value) query.set(key, value);
    }
    if (cursor) query.set("cursor", cursor);
    query.set("limit", "50");
    return this.request("GET", `jobs?${query}`);
  }

  job(jobId) {
    return this.request("GET", `jobs/${encodeURIComponent(jobId)}`);
  }

  cancel(jobId) {
    return this.request("POST", `jobs/${encodeURIComponent(jobId)}/cancel`);
  }

  // The same key for the same job: a second click (or a request sent again
  // after a lost answer) answers the first retry's email and sends nothing more.
  retry(jobId, idempotencyKey) {
    return this.request("POST", `jobs/${encodeURIComponent(jobId)}/retry`, undefined, {
      "Idempotency-Key": idempotencyKey,
    });
  }

  // The same key for the same dialog: a second click queues nothing more.
  bulkSend(payload, idempotencyKey) {
    return this.request("POST", "jobs/bulk", payload, { "Idempotency-Key": idempotencyKey });
  }

  bulk(bulkId) {
    return this.request("GET", `bulks/${encodeURIComponent(bulkId)}`);
  }

  // A test email before a bulk send: one manual job to one address, on the priority queue.
  testSend(payload) {
    return this.request("POST", "jobs/test", payload);
  }

  bulks(domain, cursor, limit = 20) {
    const query = new URLSearchParams({ domain, limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return this.request("GET", `bulks?${query}`);
  }

  cancelBulk(bulkId) {
    return this.request("POST", `bulks/${encodeURIComponent(bulkId)}/cancel`);
  }

  health(domain) {
    return this.request("GET", `domains/${encodeURIComponent(domain)}/health`);
  }

  // The last 30 days ending today (the API's default range), of one domain or of all the caller's.
  stats(domain) {
    const query = new URLSearchParams();
    if (domain) query.set("domain", domain);
    const text = query.toString();
    return this.request("GET", text ? `stats?${text}` : "stats");
  }

  audit(domain, cursor, limit = 50) {
    const query = new URLSearchParams({ domain, limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return this.request("GET", `audit?${query}`);
  }

  suppressions(domain, cursor, limit = 50) {
    const query = new URLSearchParams({ domain, limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return this.request("GET", `suppressions?${query}`);
  }

  unsuppress(domain, email) {
    return this.request("DELETE", `suppressions/${encodeURIComponent(domain)}/${encodeURIComponent(email)}`);
  }
}
