// The view in the address: which view, its filters and the opened email, so
// that a reload, Back and Forward, and a link sent to a colleague all show
// the same thing. The token never goes here (it is in the fragment only until
// the page takes it).
//
//   ?domain=acme.com&status=failed&type=manual&recipient=bob@example.org&job=<job_id>
//   ?view=suppressions&domain=acme.com&email=bob@example.org
//   ?view=bulks&domain=acme.com&bulk=<bulk_id>
//   ?view=stats&domain=acme.com
//   ?view=activity&domain=acme.com
//
// A view is a name of VIEWS; the log is the default and is not written.

export const VIEWS = ["log", "bulks", "stats", "activity", "suppressions"];
export const DEFAULT_VIEW = "log";

// What each view keeps in the address, in the order it is written.
const PARAMS = {
  log: ["domain", "status", "type", "recipient", "bulk", "job"],
  suppressions: ["domain", "email"],
  bulks: ["domain", "bulk"],
  stats: ["domain"],
  activity: ["domain"],
};

// Every key a view may hold (missing ones read as "").
export const KEYS = ["view", "domain", "status", "type", "recipient", "bulk", "job", "email"];

export function emptyView() {
  return Object.fromEntries(KEYS.map((key) => [key, key === "view" ? DEFAULT_VIEW : ""]));
}

export function parseView(search) {
  const params = new URLSearchParams(search);
  const view = emptyView();
  const name = params.get("view") || DEFAULT_VIEW;
  view.view = VIEWS.includes(name) ? name : DEFAULT_VIEW;
  for (const key of PARAMS[view.view]) view[key] = (params.get(key) || "").trim();
  view.domain = view.domain.toLowerCase();
  return view;
}

export function viewSearch(view) {
  const params = new URLSearchParams();
  if (view.view && view.view !== DEFAULT_VIEW) params.set("view", view.view);
  for (const key of PARAMS[view.view] || PARAMS[DEFAULT_VIEW]) {
    if (view[key]) params.set(key, view[key]);
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

// The address of a view, on this page's path.
export function viewHref(view) {
  return `${window.location.pathname}${viewSearch(view)}`;
}

export function sameView(a, b) {
  return viewSearch(a) === viewSearch(b);
}

export function currentView() {
  return parseView(window.location.search);
}
