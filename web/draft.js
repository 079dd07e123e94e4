// What an admin was doing towards a Bulk Send, kept in this tab's
// sessionStorage (beside the token) so that an expired token, and signing in
// again, lose none of it: the selected rows of one domain and, while the
// dialog is open, its fields.
//
// {domain, selected: [[job_id, recipient], ...], dialog: null | {subject, body, extra, key}}
//
// It goes when the tab closes, on Sign out, once the emails are queued, and
// when a token that may not see its domain signs in.

const KEY = "emailops.draft";

export function loadDraft() {
  try {
    const draft = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (!draft || typeof draft.domain !== "string" || !Array.isArray(draft.selected)) return null;
    return draft;
  } catch {
    return null;
  }
}

export function saveDraft(draft) {
  if (!draft || (!draft.selected.length && !draft.dialog)) {
    sessionStorage.removeItem(KEY);
    return;
  }
  sessionStorage.setItem(KEY, JSON.stringify(draft));
}

export function forgetDraft() {
  sessionStorage.removeItem(KEY);
}
