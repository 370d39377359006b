// The API's error messages shown next to the field they are about (never a blank page).

import { key } from "./api.js";
import { $$ } from "./dom.js";

/** What a status means to someone at the page, before the API's own message. */
export function explain(problem) {
  if (problem.status === 401 && !key.get()) return `This server needs an API key (401): ${problem.message}.`;
  if (problem.status === 401) return `The API key was refused (401): ${problem.message}.`;
  if (problem.status === 403) return `This key may not do that (403): ${problem.message}.`;
  if (problem.status === 0) return `${problem.message}.`;
  return problem.message;
}

function detailText(detail) {
  const where = (detail.loc || []).filter((part) => part !== "body").join(".");
  return where ? `${where}: ${detail.msg}` : detail.msg;
}

/**
 * The field a problem is about: the field a 422's detail locates (a part of its `loc`, or what `aliases`
 * maps that part to), else `aliases[problem.code]`, else the first of the form's fields that the message
 * names ("the question is empty", "index 'x' not found"), else "form".
 */
export function fieldOf(problem, fields, aliases = {}) {
  const field = (name) => [aliases[name], name].find((f) => fields.includes(f));
  for (const detail of problem.details || []) {
    const named = (detail.loc || []).map((part) => field(String(part))).find(Boolean);
    if (named) return named;
  }
  if (fields.includes(aliases[problem.code])) return aliases[problem.code];
  const words = new Set(problem.message.toLowerCase().match(/[a-z_]+/g) || []);
  return fields.find((field) => words.has(field)) || "form";
}

export function clearErrors(root) {
  for (const slot of $$("[data-error-for]", root)) slot.textContent = "";
  for (const input of $$("[aria-invalid]", root)) input.removeAttribute("aria-invalid");
}

export function showError(root, field, message) {
  const slot = root.querySelector(`[data-error-for="${field}"]`) || root.querySelector('[data-error-for="form"]');
  slot.textContent = message;
  const input = slot.closest(".field")?.querySelector("input, select, textarea");
  if (input) input.setAttribute("aria-invalid", "true");
}

/** Show an ApiProblem next to its field in `root`; returns the field it went to. */
export function showProblem(root, problem, aliases = {}) {
  const fields = $$("[data-error-for]", root).map((slot) => slot.dataset.errorFor);
  const field = fieldOf(problem, fields, aliases);
  const located = (problem.details || []).map(detailText);
  const message = located.length ? located.join("; ") : explain(problem);
  showError(root, field, message);
  return field;
}
