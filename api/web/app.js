// The page: two views (Ask, Indexes), the API key kept in this tab, and the ask form's choices read from the
// API's own schema (/openapi.json), so the page offers what this server accepts.

import { AskView } from "./ask.js";
import { key } from "./api.js";
import { $, $$ } from "./dom.js";
import { explain } from "./errors.js";
import { IndexesView } from "./indexes.js";

function choicesOf(schema, field) {
  const property = schema?.components?.schemas?.AskRequest?.properties?.[field] || {};
  const options = property.enum || property.anyOf?.flatMap((p) => p.enum || []) || [];
  return { options: options.length ? options : [property.default].filter(Boolean), default: property.default };
}

async function askChoices() {
  const response = await fetch("/openapi.json");
  const schema = response.ok ? await response.json() : {};
  const method = choicesOf(schema, "method");
  const budget = choicesOf(schema, "budget");
  return { methods: method.options, method: method.default, budgets: budget.options, budget: budget.default };
}

class KeyPanel {
  constructor(onKey) {
    this.panel = $("#key-panel");
    this.error = $("#key-error");
    this.onKey = onKey;
    $("#key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      key.set($("#key-input").value);
      $("#key-input").value = "";
      this.onKey();
    });
    $("#key-change").addEventListener("click", () => this.open());
    $("#key-forget").addEventListener("click", () => {
      key.clear();
      this.onKey();
    });
    this.update();
  }

  open(message = "") {
    this.panel.hidden = false;
    this.error.textContent = message;
    $("#key-input").focus();
  }

  close() {
    this.panel.hidden = true;
    this.error.textContent = "";
  }

  update() {
    const value = key.get();
    $("#key-state").textContent = value ? `Key …${value.slice(-4)}` : "No API key";
    $("#key-change").textContent = value ? "Change key" : "Set key";
    $("#key-forget").hidden = !value;
  }
}

function showView(name) {
  for (const tab of $$(".tab")) {
    if (tab.dataset.view === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  for (const view of $$(".view")) view.hidden = view.id !== `view-${name}`;
}

async function main() {
  const unauthorized = (problem) => {  // a refused key is forgotten: the panel asks for another
    const message = explain(problem);
    key.clear();
    keys.update();
    keys.open(message);
  };
  const ask = new AskView($("#view-ask"), unauthorized);
  const indexes = new IndexesView($("#view-indexes"), unauthorized, (names) => ask.setIndexes(names));
  const keys = new KeyPanel(async () => {
    keys.update();
    if ((await indexes.load()) !== null) keys.close();
  });
  for (const tab of $$(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  ask.setChoices(await askChoices());
  await indexes.load();
  document.body.dataset.ready = "true";
}

main().catch((error) => {
  document.body.dataset.ready = "error";
  $("#ask-status").textContent = `The page failed to start: ${error.message}`;
});
