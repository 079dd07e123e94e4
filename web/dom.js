// Small DOM helpers shared by the page's modules. Everything a job carries is
// put on the page as text (textContent, attributes), never as markup.

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

// Said to screen readers (the page's own polite live region).
export function announce(text) {
  const region = $("announce");
  region.textContent = "";
  // A new text node each time: the same words twice are announced twice.
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}

// A button that copies `value` (an id, a link): "Copy" on screen, "Copy <what>"
// to a screen reader, "Copied" for a moment once done.
export function copyButton(what, value) {
  const word = el("span", { className: "copy-word", text: "Copy" });
  const button = el(
    "button",
    { type: "button", className: "copy secondary", "aria-label": `Copy ${what}`, title: `Copy ${what}` },
    word,
  );
  button.dataset.value = value;
  button.addEventListener("click", async () => {
    let copied = false;
    try {
      await navigator.clipboard.writeText(value);
      copied = true;
    } catch {
      copied = copyBySelection(value);
      button.focus(); // the selection took the keyboard's focus: give it back
    }
    word.textContent = copied ? "Copied" : "Copy failed";
    announce(copied ? `${what[0].toUpperCase()}${what.slice(1)} copied.` : `Could not copy the ${what}; select it and copy it by hand.`);
    setTimeout(() => {
      word.textContent = "Copy";
    }, 2000);
  });
  return button;
}

// Where the asynchronous clipboard is refused (an insecure origin, a policy).
function copyBySelection(value) {
  const area = el("textarea", { className: "visually-hidden", "aria-hidden": "true", tabindex: "-1" });
  area.value = value;
  document.body.append(area);
  area.select();
  let done = false;
  try {
    done = document.execCommand("copy");
  } catch {
    done = false;
  }
  area.remove();
  return done;
}

// An id shown in full, in a monospace font, with its copy button.
export function idWithCopy(what, value, link = null) {
  return el(
    "span",
    { className: "id-value" },
    link || el("code", { className: "mono", text: value }),
    copyButton(what, value),
  );
}
