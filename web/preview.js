// An email's HTML made safe to show: a document with nothing in it that can
// reach the network, for the sandboxed frame of an opened email.
//
// Chromium opens a connection to a URL before the frame's policy refuses it
// (a preconnect for an <iframe src>, a link's host, a <link rel=preconnect>),
// so a policy alone would still tell a sender when and from where an admin
// opened the email. The HTML is therefore parsed here, in an inert document
// (DOMParser: no script, no fetch), and rebuilt from what is known to be
// harmless: an allow-list of elements and attributes, images only from data:
// URLs, links kept as text with their address in a tooltip, and CSS without
// any url(), @import or @font-face. The frame's sandbox (no script) and
// policy (nothing but data: images) stay as a second wall.

const FRAME_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:";

// Kept, with their allowed attributes.
const ELEMENTS = new Set([
  "a", "abbr", "address", "article", "aside", "b", "bdi", "bdo", "big", "blockquote", "body", "br",
  "caption", "center", "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl",
  "dt", "em", "figcaption", "figure", "font", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
  "hr", "i", "img", "ins", "kbd", "li", "main", "mark", "nav", "ol", "p", "pre", "q", "rp", "rt",
  "ruby", "s", "samp", "section", "small", "span", "strike", "strong", "sub", "summary", "sup", "table",
  "tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt", "u", "ul", "var", "wbr",
]);

// Taken out with everything in them: what loads, plays, runs or embeds, and
// what parses its content differently on the way back in (svg, math, template).
const DROPPED = new Set([
  "script", "template", "iframe", "frame", "frameset", "object", "embed", "applet", "param", "link",
  "meta", "base", "portal", "fencedframe", "svg", "math", "audio", "video", "source", "track",
  "picture", "canvas", "map", "area", "noembed", "noframes", "xmp", "plaintext", "title", "input",
  "select", "textarea", "option", "optgroup", "datalist", "output", "progress", "meter", "dialog",
  "slot", "style", "head",
]);
// Anything else (form, button, label, noscript, Outlook's <o:p>, custom
// elements) gives way to its children.

const ATTRIBUTES = new Set([
  "align", "valign", "bgcolor", "color", "border", "cellpadding", "cellspacing", "colspan", "rowspan",
  "width", "height", "dir", "lang", "title", "alt", "class", "id", "face", "size", "span", "start",
  "reversed", "scope", "headers", "abbr", "nowrap", "hspace", "vspace", "role", "summary", "datetime",
  "open", "clear", "frame", "rules", "char", "charoff", "axis", "style", "type",
]);

// A CSS value that can name something to fetch, or hide one (custom properties, var()).
const RISKY_VALUE = /url\(|image-set\(|image\(|cross-fade\(|element\(|src\(|var\(|env\(|attr\(/i;
// Rules kept (their declarations cleaned); any other kind (@import, @font-face,
// @namespace, @property, @counter-style, ...) is dropped.
const RULES = new Set([
  "CSSStyleRule", "CSSMediaRule", "CSSSupportsRule", "CSSKeyframesRule", "CSSKeyframeRule", "CSSPageRule",
  "CSSMarginRule", "CSSContainerRule", "CSSLayerBlockRule", "CSSLayerStatementRule", "CSSScopeRule",
  "CSSStartingStyleRule", "CSSNestedDeclarations",
]);

function cleanDeclarations(style) {
  for (let i = style.length - 1; i >= 0; i -= 1) {
    const name = style[i];
    if (name.startsWith("--") || RISKY_VALUE.test(style.getPropertyValue(name))) style.removeProperty(name);
  }
}

function cleanRules(rules, remove) {
  for (let i = rules.length - 1; i >= 0; i -= 1) {
    const rule = rules[i];
    if (!RULES.has(rule.constructor.name)) {
      remove(rule, i);
      continue;
    }
    if (rule.style) cleanDeclarations(rule.style);
    if (rule.cssRules) {
      cleanRules(rule.cssRules, (child, j) => (rule.constructor.name === "CSSKeyframesRule" ? rule.deleteRule(child.keyText) : rule.deleteRule(j)));
    }
  }
}

// A style sheet's text, parsed (never fetched: a constructed sheet ignores
// @import) and written out again without anything that could load.
export function safeCss(text) {
  let sheet;
  try {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(text);
  } catch {
    return "";
  }
  cleanRules(sheet.cssRules, (_, i) => sheet.deleteRule(i));
  // "<" never ends the <style> it goes into.
  return [...sheet.cssRules].map((rule) => rule.cssText).join("\n").replace(/</g, "\\3c ");
}

function cleanElement(element) {
  const name = element.localName;
  for (const attribute of [...element.attributes]) {
    const attr = attribute.name.toLowerCase();
    if (attr === "href" && name === "a") {
      // The address stays readable, never followed (nor pre-connected to).
      const where = attribute.value.trim();
      if (where && !element.hasAttribute("title")) element.setAttribute("title", `Link to ${where.slice(0, 500)}`);
      element.removeAttribute(attribute.name);
    } else if (attr === "src" && name === "img" && /^\s*data:image\//i.test(attribute.value)) {
      // An image carried in the email itself: nothing to fetch.
    } else if (!ATTRIBUTES.has(attr) || (attr === "type" && !["ol", "ul", "li"].includes(name))) {
      element.removeAttribute(attribute.name);
    }
  }
  if (element.hasAttribute("style")) {
    cleanDeclarations(element.style);
    if (!element.style.length) element.removeAttribute("style");
  }
}

function cleanTree(parent) {
  for (const node of [...parent.childNodes]) {
    if (node.nodeType === Node.TEXT_NODE) continue;
    if (node.nodeType !== Node.ELEMENT_NODE) {
      node.remove(); // comments (Outlook's conditional ones too), processing instructions
      continue;
    }
    const name = node.namespaceURI === "http://www.w3.org/1999/xhtml" ? node.localName : null;
    if (name === null || DROPPED.has(name)) {
      node.remove();
    } else if (ELEMENTS.has(name)) {
      cleanElement(node);
      cleanTree(node);
    } else {
      cleanTree(node);
      node.replaceWith(...node.childNodes);
    }
  }
}

// The frame's whole document, for <iframe sandbox srcdoc>.
export function previewDocument(html) {
  const parsed = new DOMParser().parseFromString(String(html || ""), "text/html");
  const css = [...parsed.querySelectorAll("style")].map((style) => safeCss(style.textContent || "")).filter(Boolean);
  // A <frameset> document has no body to show.
  const body = parsed.body && parsed.body.localName === "body" ? parsed.body : parsed.createElement("body");
  cleanElement(body);
  cleanTree(body);
  return [
    "<!doctype html><html><head><meta charset=\"utf-8\">",
    `<meta http-equiv="Content-Security-Policy" content="${FRAME_POLICY}">`,
    "<meta name=\"referrer\" content=\"no-referrer\">",
    // Links read as links; the email fits a narrow frame (a phone) without scrolling sideways.
    "<style>a[title]{color:#1d4ed8;text-decoration:underline;cursor:help}",
    "body{overflow-wrap:anywhere}img{max-width:100%;height:auto}table{max-width:100%}</style>",
    css.length ? `<style>${css.join("\n")}</style>` : "",
    "</head>",
    body.outerHTML,
    "</html>",
  ].join("");
}
