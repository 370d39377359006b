// A question's trace events as they arrive: one line each, in order, with the details of the kinds the
// hop-by-hop search records (plan, retrieve, rerank, hop_read, rewrite, beam, final, vote, critic,
// fallback, answer) and a compact key=value line for any other kind; plus the cost so far.

import { fill, h, number, plural, shorten } from "./dom.js";

const TOP_HITS = 4;
const WARNINGS = new Set(["fallback", "budget", "degraded", "json_error", "llm_error", "cancelled", "abstain"]);

function step(e) {
  return e.round !== undefined ? `step ${e.round}` : "";
}

function scored(label, score) {
  return h("span", { class: "chip" }, shorten(label, 48), score === undefined ? "" : h("b", {}, number(score)));
}

function chips(items) {
  return h("div", { class: "chips" }, items);
}

function planBody(e) {
  const steps = (e.steps || []).map((text) => h("li", {}, text));
  const over = (e.over || []).map((k) => `#${k}`).join(", ");
  const choices = (e.choices || []).length ? ` among ${e.choices.join(" / ")}` : "";
  const then = e.operation === "answer" ? `the answer of ${over}` : `${e.operation} of ${over}${choices}`;
  return [h("ol", { class: "plan" }, steps), h("div", { class: "muted" }, `then ${then}`),
    e.note ? h("div", { class: "muted" }, e.note) : null, e.source && e.source !== "llm"
      ? h("div", { class: "warn" }, `plan source: ${e.source}`) : null];
}

function candidatesOf(e) {
  return Object.values(e.candidates || {}).flat();
}

/** [title, detail elements] of a known kind, or null. */
const KINDS = {
  start: (e) => [`Start: ${e.method || "?"}`, [h("span", { class: "muted" }, e.budget?.name ? `budget ${e.budget.name}` : "")]],
  plan: (e) => [`Plan: ${plural((e.steps || []).length, "step")}`, planBody(e)],
  retrieve: (e) => [`Search ${step(e)}: ${shorten(e.query, 90)}`,
    [chips((e.hits || []).slice(0, TOP_HITS).map((hit) => scored(hit.title || hit.passage_id, hit.fused)))]],
  rerank: (e) => [`Rerank ${step(e)}: ${shorten(e.focus, 90)}`,
    [chips((e.ranked || []).slice(0, TOP_HITS).map((c) => scored(c.title || c.passage_id, c.score)))]],
  hop_read: (e) => [`Read ${step(e)}: ${shorten(e.query, 80)}`,
    [h("div", {}, "→ ", h("strong", {}, e.answer), " ", h("span", { class: "muted" }, `score ${number(e.score)}`)),
      chips((e.passages || []).map((p) => scored(p.title || p.passage_id, p.score)))]],
  rewrite: (e) => [`Search ${step(e)} again (attempt ${e.attempt})`,
    [h("ul", {}, (e.queries || []).map((q) => h("li", {}, q.query)))]],
  beam: (e) => [`Step ${e.round} answered: ${shorten(e.step, 70)}`,
    [chips(candidatesOf(e).map((c) => scored(c.answer, c.score))),
      h("div", { class: "muted" }, `${(e.kept || []).length} path(s) kept, ${e.dropped || 0} dropped, ${e.ended || 0} ended`)]],
  final: (e) => [`Final ${e.operation || "answer"}: ${e.answer || "(none)"}`,
    [h("span", { class: "muted" }, `path ${(e.path?.answers || []).join(" → ")} · score ${number(e.path?.score)}`)]],
  vote: (e) => [`Vote: ${e.winner}`,
    [chips(Object.entries(e.votes || {}).map(([answer, score]) => scored(answer, score)))]],
  critic: (e) => [`Critic (${e.critic || "?"}): ${e.sufficient ? "sufficient" : "not sufficient"}`,
    [h("span", { class: "muted" }, `confidence ${number(e.confidence)}${e.missing ? ` · missing: ${e.missing}` : ""}`)]],
  fallback: (e) => [`Fallback: ${e.reason}`, [h("span", { class: "muted" }, `reads ${e.passages} passages for the whole question`)]],
  answer: (e) => [`Answer: ${e.answer}`, [h("span", { class: "muted" }, `confidence ${number(e.confidence)}`)]],
  llm: (e) => [`LLM ${e.purpose || ""}: ${e.prompts ?? 1} prompt(s), ${e.prompt_tokens || 0}+${e.completion_tokens || 0} tokens, ${number(e.latency_s, 2)} s`, []],
  stage: (e) => [`Stage ${e.name}${e.total ? `: ${e.total} ${e.unit || ""}` : ""}`, []],
  note: (e) => [e.message || e.text || "note", []],
};

const SKIP = new Set(["seq", "stage", "at_s", "chain", "round"]);

/** A compact key=value summary of an event of a kind the page does not know. */
export function compact(e) {
  const parts = [];
  for (const [name, value] of Object.entries(e)) {
    if (SKIP.has(name) || value === null || value === undefined) continue;
    const shown = typeof value === "object" ? JSON.stringify(value) : String(value);
    parts.push(`${name}=${shorten(shown, 40)}`);
  }
  return shorten(parts.join(" "), 180);
}

export function eventRow(e) {
  const known = KINDS[e.stage];
  const [title, body] = known ? known(e) : [e.stage, [h("span", { class: "muted mono" }, compact(e))]];
  const kind = WARNINGS.has(e.stage) ? "warn" : known ? "known" : "other";
  const where = [e.chain !== undefined ? `path ${e.chain}` : "", `${number(e.at_s, 2)} s`].filter(Boolean).join(" · ");
  return h("li", { class: `event ${kind} stage-${e.stage}`, dataset: { seq: e.seq, stage: e.stage } },
    h("div", { class: "event-head" }, h("span", { class: "badge" }, e.stage), h("span", { class: "event-title" }, title),
      h("span", { class: "event-at muted small" }, where)),
    body.length ? h("div", { class: "event-body" }, body) : null);
}

/** The running cost of a question from its `llm` events (a batch counts once, as the API counts it). */
export class CostMeter {
  constructor() {
    this.calls = 0;
    this.tokens = 0;
    this.seconds = 0;
  }

  add(e) {
    if (typeof e.at_s === "number") this.seconds = Math.max(this.seconds, e.at_s);
    if (e.stage !== "llm") return;
    this.calls += 1;
    this.tokens += (e.prompt_tokens || 0) + (e.completion_tokens || 0);
  }

  toString() {
    return `${plural(this.calls, "LLM call")} · ${plural(this.tokens, "token")} · ${number(this.seconds, 1)} s`;
  }
}

/** While a question runs: its plan's steps, each with the answers found for it so far (`plan`, `beam`). */
export class PlanProgress {
  constructor(root) {
    this.root = root;
    this.steps = [];
    this.found = new Map();
  }

  add(e) {
    if (e.stage === "plan") this.steps = e.steps || [];
    else if (e.stage === "beam") this.found.set(e.round, candidatesOf(e));
    else return;
    this.render();
  }

  render() {
    const searching = this.steps.findIndex((_, i) => !this.found.has(i + 1));
    const items = this.steps.map((text, i) => {
      const found = this.found.get(i + 1);
      const state = found ? chips(found.length ? found.map((c) => scored(c.answer, c.score)) : [h("span", { class: "warn" }, "unknown")])
        : h("span", { class: "muted small" }, i === searching ? "searching…" : "waiting");
      return h("li", { class: i === searching ? "current" : "" }, h("div", {}, text), state);
    });
    fill(this.root, h("h3", {}, "Plan so far"), h("ol", { class: "plan-progress" }, items),
      h("p", { class: "muted empty" }, "Waiting for the answer…"));
  }
}
