// Small DOM helpers: elements are built from data with textContent, never from HTML strings.

const SVG_NS = "http://www.w3.org/2000/svg";

function assign(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

/** The nodes of a list of children: nested lists flattened, null / undefined / false left out. */
export function children(list) {
  return list.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : String(c)));
}

/** An HTML element: h("a", {href: "#", class: "x", onclick: f}, "text", child). */
export function h(tag, props = {}, ...content) {
  const el = document.createElement(tag);
  assign(el, props);
  el.append(...children(content));
  return el;
}

/** An SVG element, as h() makes HTML ones. */
export function svg(tag, props = {}, ...content) {
  const el = document.createElementNS(SVG_NS, tag);
  assign(el, props);
  el.append(...children(content));
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function $$(selector, root = document) {
  return [...root.querySelectorAll(selector)];
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** Replace an element's children (null / undefined / false among them left out). */
export function fill(el, ...content) {
  el.replaceChildren(...children(content));
  return el;
}

export function shorten(text, limit) {
  const value = String(text ?? "");
  return value.length <= limit ? value : `${value.slice(0, limit - 1).trimEnd()}…`;
}

export function number(value, digits = 3) {
  return typeof value === "number" ? String(Number(value.toFixed(digits))) : String(value ?? "");
}

export function percent(value) {
  return `${Math.round(Math.max(0, Math.min(1, Number(value) || 0)) * 100)}%`;
}

export function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}
