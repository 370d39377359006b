// The Indexes view: the indexes this key may read (counts, and the manifest of the one clicked), building
// one from an upload or a server-side path, and adding documents, each with a progress bar fed by the job's
// progress.

import { ApiProblem, request, upload, waitJob } from "./api.js";
import { $, $$, fill, h, number, percent, plural } from "./dom.js";
import { clearErrors, explain, showError, showProblem } from "./errors.js";

const SOURCE_CODES = ["source_not_found", "forbidden_path", "invalid_input", "too_large", "unsupported_media_type"];
// Errors (by code, or by the request field a 422 names) and the form field they are about.
const FIELD_OF = {
  documents: "source",
  conflict: "name",
  forbidden: "name",
  index_unavailable: "index",
  ...Object.fromEntries(SOURCE_CODES.map((code) => [code, "source"])),
};

function date(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function sourceText(source) {
  const what = [source.format, source.compression, source.records !== undefined ? `${source.records} records` : ""];
  return `${source.path} (${what.filter(Boolean).join(", ")})`;
}

/** The manifest's build details worth a glance, as [label, text] pairs (the rest is in "Whole manifest"). */
export function manifestFacts(detail) {
  const m = detail.manifest || {};
  const graph = m.graph?.counts;
  const edges = graph ? ["relation_edges", "cooccurrence_edges", "synonym_edges"].map((k) => graph[k] || 0) : [];
  const facts = [
    ["Documents", `${detail.documents} (${detail.passages} passages)`],
    ["Built", `${date(detail.created_at)}${m.build?.total_seconds !== undefined ? ` in ${number(m.build.total_seconds, 1)} s` : ""}`],
    ["Updated", detail.updates ? `${date(detail.updated_at)} (${plural(detail.updates, "update")})` : ""],
    ["Sources", (m.sources || []).map(sourceText).join("; ")],
    ["Embedder", m.embedder ? `${m.embedder.name} (dimension ${m.embedder.dimension})` : detail.embedder],
    ["Dense index", m.dense ? `FAISS ${m.dense.kind}, ${m.dense.metric}` : ""],
    ["BM25", m.bm25 ? `${m.bm25.method}, ${m.bm25.vocab_size} terms` : ""],
    ["Graph", graph ? `${graph.entities} entities, ${graph.mentions} mentions; edges: ${edges[0]} relation, `
      + `${edges[1]} co-occurrence, ${edges[2]} synonym` : "none"],
  ];
  return facts.filter(([, text]) => text);
}

/** A finished build's or update's result in words. */
function summary(result) {
  const index = result.index || {};
  const added = result.documents_added !== undefined ? `added ${plural(result.documents_added, "document")}; ` : "";
  return `${added}${index.name} holds ${plural(index.documents, "document")}, ${plural(index.passages, "passage")}`;
}

class ProgressBar {
  constructor(form) {
    this.root = $(".progress", form);
    this.bar = $(".progress-bar", this.root);
    this.label = $(".progress-label", this.root);
  }

  show(fraction, label) {
    this.root.hidden = false;
    this.root.classList.toggle("indeterminate", fraction === null);
    this.bar.style.width = fraction === null ? "100%" : percent(fraction);
    this.label.textContent = label;
  }

  job(status) {
    if (status.state === "succeeded") return this.show(1, `succeeded: ${summary(status.result || {})}`);
    const p = status.progress || {};
    const counts = p.total ? ` ${p.done}/${p.total} ${p.unit || ""}` : "";
    return this.show(p.total ? p.done / p.total : null, `${status.state}${p.stage ? ` · ${p.stage}` : ""}${counts}`);
  }
}

/** The form's chosen source as the API takes it ({path} or {upload}), uploading a file first. */
async function sourceOf(form, progress) {
  const data = new FormData(form);
  if (data.get("source") === "path") return { path: String(data.get("path") || "") };
  const file = $('input[type="file"]', form).files[0];
  if (!file) {
    showError(form, "source", "Choose a file to upload (JSON Lines, CSV or TSV, optionally compressed).");
    return null;
  }
  const done = await upload(file, (fraction) => progress.show(fraction, `uploading ${file.name} ${percent(fraction)}`));
  return { upload: done.upload_id };
}

function followSourceChoice(form) {
  const update = () => {
    const choice = new FormData(form).get("source");
    $('input[type="file"]', form).hidden = choice !== "upload";
    $('input[name="path"]', form).hidden = choice !== "path";
    const typed = $(".document", form);
    if (typed) typed.hidden = choice !== "document";
  };
  for (const radio of $$('input[name="source"]', form)) radio.addEventListener("change", update);
  update();
}

export class IndexesView {
  constructor(root, onUnauthorized, onIndexes) {
    this.root = root;
    this.onUnauthorized = onUnauthorized;
    this.onIndexes = onIndexes;
    this.detail = $("#index-detail", root);
    this.build = $("#build-form", root);
    this.add = $("#add-form", root);
    for (const form of [this.build, this.add]) {
      followSourceChoice(form);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        this.run(form);
      });
    }
    $("#indexes-refresh", root).addEventListener("click", () => this.load());
  }

  /** GET /v1/indexes into the table and every index select; the names, or null when it failed. */
  async load() {
    clearErrors($("#indexes-table", this.root).parentElement);
    try {
      const { indexes } = await request("GET", "/v1/indexes");
      this.fill(indexes);
      return indexes.map((i) => i.name);
    } catch (problem) {
      this.fill([]);
      if (!(problem instanceof ApiProblem)) throw problem;
      showError(this.root, "indexes", explain(problem));
      if (problem.status === 401) this.onUnauthorized(problem);
      return null;
    }
  }

  fill(indexes) {
    const rows = indexes.map((i) => h("tr", { dataset: { index: i.name }, tabindex: 0, onclick: () => this.show(i.name),
      onkeydown: (event) => event.key === "Enter" && this.show(i.name) },
    h("td", { class: "mono" }, i.name), h("td", {}, i.documents), h("td", {}, i.passages), h("td", {}, i.embedder),
    h("td", {}, i.graph ? "yes" : "no"), h("td", {}, date(i.created_at)), h("td", {}, i.updates)));
    $("#indexes-table tbody", this.root).replaceChildren(...rows);
    $("#indexes-empty", this.root).hidden = indexes.length > 0;
    const names = indexes.map((i) => i.name);
    $('select[name="index"]', this.add).replaceChildren(...names.map((n) => h("option", { value: n }, n)));
    this.detail.hidden = true;
    this.onIndexes(names);
  }

  async show(name) {
    try {
      const detail = await request("GET", `/v1/indexes/${encodeURIComponent(name)}`);
      fill(this.detail,
        h("h3", { class: "plain-title" }, `Index ${detail.name}`),
        h("dl", { class: "facts" }, manifestFacts(detail).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
        h("details", {}, h("summary", {}, "Whole manifest"), h("pre", { class: "mono" }, JSON.stringify(detail.manifest, null, 2))));
      this.detail.hidden = false;
    } catch (problem) {
      showError(this.root, "indexes", explain(problem));
    }
  }

  async run(form) {
    clearErrors(form);
    const progress = new ProgressBar(form);
    const button = $('button[type="submit"]', form);
    button.disabled = true;
    try {
      const accepted = await this.submit(form, progress);
      if (!accepted) return;
      const status = await waitJob(accepted.links.self, (s) => progress.job(s));
      if (status.state === "failed") showError(form, "form", `The job failed (${status.error.code}): ${status.error.message}`);
      else if (status.state === "succeeded") await this.load();
    } catch (problem) {
      if (!(problem instanceof ApiProblem)) throw problem;
      progress.root.hidden = true;
      showProblem(form, problem, FIELD_OF);
      if (problem.status === 401) this.onUnauthorized(problem);
    } finally {
      button.disabled = false;
    }
  }

  async submit(form, progress) {
    const data = new FormData(form);
    if (form === this.build) {
      const source = await sourceOf(form, progress);
      if (!source) return null;
      return request("POST", "/v1/indexes", { name: String(data.get("name") || ""), source,
        options: { kg: data.get("kg") === "on" }, overwrite: data.get("overwrite") === "on" });
    }
    const name = String(data.get("index") || "");
    if (!name) {
      showError(form, "index", "Choose an index (this key may write to none yet).");
      return null;
    }
    const path = `/v1/indexes/${encodeURIComponent(name)}/documents`;
    if (data.get("source") === "document") {
      const doc = { id: data.get("doc_id"), title: data.get("doc_title"), text: data.get("doc_text") };
      return request("POST", path, { documents: [doc] });
    }
    const source = await sourceOf(form, progress);
    return source ? request("POST", path, { source }) : null;
  }
}
