// The finished answer: the answer and its confidence, the explanation with clickable [n] citations, the
// cited passages, and a passage opened with its supporting sentence highlighted.

import { fill, h, number, percent } from "./dom.js";

const CITE = /\[(\d{1,3})\]/g;

/**
 * The explanation's claims, one per citation mark in order: {n, claim, question, answer}. A hop of the
 * hop-by-hop search reads "<step question>? <answer> [n]."; any other claim is the text before its mark.
 */
export function claimsOf(explanation) {
  const claims = [];
  let start = 0;
  for (const match of explanation.matchAll(CITE)) {
    const claim = explanation.slice(start, match.index).replace(/^[\s.;,]+/, "").trim();
    const cut = claim.lastIndexOf("?");
    claims.push({
      n: Number(match[1]),
      claim,
      question: cut >= 0 ? claim.slice(0, cut + 1).trim() : "",
      answer: cut >= 0 ? claim.slice(cut + 1).trim() : "",
    });
    start = match.index + match[0].length;
  }
  return claims;
}

function citeButton(n, onCite) {
  return h("button", { type: "button", class: "cite", dataset: { cite: n }, "aria-label": `Open passage ${n}`,
    onclick: () => onCite(n) }, `[${n}]`);
}

function explanationOf(text, onCite) {
  const parts = [];
  let start = 0;
  for (const match of text.matchAll(CITE)) {
    parts.push(text.slice(start, match.index), citeButton(Number(match[1]), onCite));
    start = match.index + match[0].length;
  }
  parts.push(text.slice(start));
  return h("p", { class: "explanation" }, parts);
}

function confidenceOf(value) {
  const bar = h("span", { class: "meter-fill" });
  bar.style.width = percent(value);
  return h("div", { class: "confidence", title: `confidence ${number(value)}` },
    h("span", { class: "label" }, "Confidence"), h("span", { class: "meter" }, bar),
    h("span", { class: "confidence-value" }, percent(value)));
}

function costOf(result) {
  const cost = result.cost || {};
  return h("div", { class: "muted small" },
    `${result.method} · ${result.budget} · ${cost.llm_calls ?? 0} LLM calls · `
    + `${(cost.prompt_tokens ?? 0) + (cost.completion_tokens ?? 0)} tokens · ${number(cost.seconds, 1)} s`);
}

/** Render an answer (the API's result object) into `root`; onCite(n) opens citation n. */
export function renderAnswer(root, result, onCite) {
  const citations = (result.citations || []).map((c) => h("li", {},
    citeButton(c.n, onCite), " ", h("span", { class: "cite-title" }, c.title || c.passage_id),
    h("span", { class: "muted small" }, ` ${c.doc_id}`)));
  fill(root,
    h("div", { class: `answer-text${result.abstained ? " abstained" : ""}`, id: "answer-text" }, result.answer),
    confidenceOf(result.confidence),
    explanationOf(result.explanation || "", onCite),
    citations.length ? h("div", {}, h("h3", {}, "Cited passages"), h("ol", { class: "citations" }, citations)) : null,
    (result.notes || []).length ? h("ul", { class: "notes muted small" }, result.notes.map((n) => h("li", {}, n))) : null,
    costOf(result));
}

function sentencesOf(detail) {
  const parts = [];
  let at = 0;
  for (const span of detail.sentences) {
    parts.push(detail.text.slice(at, span.start));
    const text = detail.text.slice(span.start, span.end);
    parts.push(span.supporting ? h("mark", { class: "support" }, text) : h("span", {}, text));
    at = span.end;
  }
  parts.push(detail.text.slice(at));
  return parts;
}

/** Render a passage (GET /v1/indexes/{name}/passages/{id}) with what it was opened for. */
export function renderPassage(root, detail, heading, claim) {
  root.hidden = false;
  fill(root,
    h("div", { class: "card-head" }, h("h3", { class: "plain-title" }, heading, " ", detail.title),
      h("button", { type: "button", class: "link small", onclick: () => { root.hidden = true; } }, "Close")),
    claim ? h("p", { class: "muted small" }, "Cited for: ", h("em", {}, claim)) : null,
    h("p", { class: "passage-text", id: "passage-text" }, sentencesOf(detail)),
    h("p", { class: "muted small mono" }, `${detail.doc_id} · ${detail.passage_id}`));
}

export function renderMessage(root, message, kind = "muted") {
  root.hidden = false;
  fill(root, h("p", { class: kind }, message));
}
