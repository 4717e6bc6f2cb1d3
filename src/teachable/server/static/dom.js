// Small DOM helpers shared by every view: element building, toasts, downloads, colours.

const COLOURS = ["#e8710a", "#1a73e8", "#188038", "#a142f4", "#d01884", "#12b5cb", "#f9ab00", "#5f6368"];

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function toast(message, kind = "info") {
  const el = h("div", { class: `toast ${kind}`, text: message, title: message });
  const holder = document.getElementById("toasts");
  for (const old of [...holder.children]) if (old.textContent === message) old.remove(); // the same news once
  holder.append(el);
  while (holder.children.length > 2) holder.firstElementChild.remove();
  setTimeout(() => el.remove(), kind === "error" ? 7000 : 3500);
}

// Run an action; on failure show its message instead of throwing (returns undefined).
export async function attempt(action, success) {
  try {
    const result = await action();
    if (success) toast(success);
    return result;
  } catch (err) {
    toast(err.message, "error");
    return undefined;
  }
}

export function download(url, filename) {
  const link = h("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
}

export function colourOf(index) { return COLOURS[index % COLOURS.length]; }

export function plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; }

// Text whose `backticked` parts are code: the nodes to append (never HTML from the text).
export function withCode(text) {
  return String(text).split("`").map((part, i) => (i % 2 ? h("code", { text: part }) : document.createTextNode(part)));
}

// Colours follow a class, not its place: deleting one leaves the others' colours as they were.
export function colourOfClass(id) { return COLOURS[(id - 1 + COLOURS.length) % COLOURS.length]; }
