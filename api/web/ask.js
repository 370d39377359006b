// The Ask view: POST /v1/ask as a job, its trace followed live, a cancel button, then the answer, its
// evidence graph and the passages behind its citations.

import { claimsOf, renderAnswer, renderMessage, renderPassage } from "./answer.js";
import { ApiProblem, followJob, request } from "./api.js";
import { $, clear, h } from "./dom.js";
import { clearErrors, explain, showError, showProblem } from "./errors.js";
import { normalized, renderGraph } from "./graph.js";
import { CostMeter, eventRow, PlanProgress } from "./trace.js";

// Ask errors without a field named in them (by code), and the field they are about.
const FIELD_OF = { budget_not_allowed: "budget", critic_unavailable: "budget", too_long: "question" };

function option(value, label = value, selected = false) {
  return h("option", { value, selected }, label);
}

export class AskView {
  constructor(root, onUnauthorized) {
    this.root = root;
    this.onUnauthorized = onUnauthorized;
    this.form = $("#ask-form", root);
    this.trace = $("#trace", root);
    this.answer = $("#answer", root);
    this.graph = $("#graph", root);
    this.passage = $("#passage", root);
    this.status = $("#ask-status", root);
    this.cancelButton = $("#ask-cancel", root);
    this.job = null;
    this.result = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.ask();
    });
    this.cancelButton.addEventListener("click", () => this.cancel());
  }

  /** The choices of the method and budget selects: {methods, budgets, method, budget}. */
  setChoices({ methods, budgets, method, budget }) {
    $("#ask-method", this.form).replaceChildren(...methods.map((m) => option(m, m, m === method)));
    $("#ask-budget", this.form).replaceChildren(...budgets.map((b) => option(b, b, b === budget)));
  }

  setIndexes(names) {
    const select = $("#ask-index", this.form);
    const current = select.value;
    select.replaceChildren(...names.map((name) => option(name, name, name === current)));
  }

  reset() {
    clearErrors(this.form);
    clear(this.trace);
    $("#trace-empty", this.root).hidden = true;
    this.answer.replaceChildren(h("p", { class: "muted empty" }, "Waiting for the answer…"));
    this.graph.hidden = true;
    this.passage.hidden = true;
    this.result = null;
    this.cost = new CostMeter();
    this.progress = new PlanProgress(this.answer);
    $("#trace-cost", this.root).textContent = "";
  }

  running(job) {
    this.job = job;
    this.cancelButton.hidden = !job;
    this.cancelButton.disabled = false;
    $("#ask-submit", this.form).disabled = Boolean(job);
  }

  async ask() {
    this.reset();
    const data = new FormData(this.form);
    const body = { question: data.get("question"), index: data.get("index") || "", method: data.get("method"),
      budget: data.get("budget"), wait: false };
    this.index = body.index;
    this.question = body.question;
    this.status.textContent = "Asking…";
    try {
      const accepted = await request("POST", "/v1/ask", body);
      if (accepted.result) return this.finished({ state: "succeeded", result: accepted.result });
      this.running(accepted);
      this.status.textContent = "Running…";
      const status = await followJob(accepted.links.events, (event) => this.onEvent(event));
      this.finished(status);
    } catch (problem) {
      this.failed(problem);
    } finally {
      this.running(null);
    }
    return undefined;
  }

  onEvent(event) {
    const following = this.trace.scrollHeight - this.trace.scrollTop - this.trace.clientHeight < 48;
    this.trace.append(eventRow(event));
    if (following) this.trace.scrollTop = this.trace.scrollHeight;  // stay at the newest, unless scrolled up
    this.cost.add(event);
    this.progress.add(event);
    $("#trace-cost", this.root).textContent = String(this.cost);
  }

  failed(problem) {
    this.status.textContent = "";
    if (!(problem instanceof ApiProblem)) throw problem;
    showProblem(this.form, problem, FIELD_OF);
    $("#trace-empty", this.root).hidden = this.trace.childElementCount > 0;
    if (problem.status === 401) this.onUnauthorized(problem);
    this.answer.replaceChildren(h("p", { class: "muted empty" }, "No answer."));
  }

  finished(status) {
    if (status.state === "succeeded") {
      this.status.textContent = "Answered.";
      this.show(status.result);
    } else if (status.state === "cancelled") {
      this.status.textContent = "Cancelled.";
      this.answer.replaceChildren(h("p", { class: "muted empty" }, "The question was cancelled."));
    } else {
      this.status.textContent = "";
      const error = status.error || { code: status.state, message: `the job ${status.state}` };
      showError(this.form, "form", `The question failed (${error.code}): ${error.message}`);
      this.answer.replaceChildren(h("p", { class: "muted empty" }, "No answer."));
    }
  }

  show(result) {
    this.result = result;
    this.claims = claimsOf(result.explanation || "");
    renderAnswer(this.answer, result, (n) => this.openCitation(n));
    renderGraph(this.graph, result, this.claims, (node) => this.openNode(node));
  }

  async cancel() {
    if (!this.job) return;
    this.cancelButton.disabled = true;
    this.status.textContent = "Cancelling…";
    try {
      await request("DELETE", `/v1/jobs/${encodeURIComponent(this.job.job_id)}`);
    } catch (problem) {
      showProblem(this.form, problem);
    }
  }

  openCitation(n) {
    const citation = (this.result.citations || []).find((c) => c.n === n);
    const claim = this.claims.find((c) => c.n === n) || { claim: "", answer: "" };
    if (!citation) return renderMessage(this.passage, `Citation [${n}] is not among the answer's citations.`, "warn");
    return this.openPassage(citation.passage_id, `[${n}]`, claim.claim, claim.answer || this.result.answer);
  }

  async openNode(node) {
    if (node.kind === "passage") return this.openCitation(node.claim.n);
    const name = normalized(node.entity);
    const known = [...(this.result.citations || []), ...(this.result.evidence || [])]
      .find((p) => normalized(p.title) === name);
    if (known) return this.openPassage(known.passage_id, "", node.entity, node.entity);
    try {
      const found = await request("POST", "/v1/search", { query: node.entity, index: this.index, k: 1 });
      if (!found.hits.length) return renderMessage(this.passage, `No passage about ${node.entity}.`, "warn");
      return this.openPassage(found.hits[0].id, "", node.entity, node.entity);
    } catch (problem) {
      return renderMessage(this.passage, explain(problem), "field-error");
    }
  }

  async openPassage(passageId, heading, claim, answer) {
    const query = new URLSearchParams({ claim: claim || "", answer: answer || "" });
    const path = `/v1/indexes/${encodeURIComponent(this.index)}/passages/${encodeURIComponent(passageId)}?${query}`;
    try {
      const detail = await request("GET", path);
      renderPassage(this.passage, detail, heading, claim);
      this.passage.scrollIntoView({ block: "nearest", behavior: "smooth" });
    } catch (problem) {
      renderMessage(this.passage, explain(problem), "field-error");
    }
  }
}
