// The answer's evidence as a small graph: the hop path (question → cited passage → the hop's answer → ...)
// on the first row, each graph path ("A -[relation]-> B -[...]-> C") on a row below, an entity that appears
// twice drawn once. Every node but the question opens a passage: a passage node its own, an entity node
// the passage about it.

import { fill, h, shorten, svg } from "./dom.js";

const COLUMN = 200;
const ROW = 84;
const NODE_W = 132;
const NODE_H = 36;
const MARGIN = 16;
const LABEL = 20;

export function normalized(name) {
  return String(name).toLowerCase().replace(/[^a-z0-9]+/g, " ").trim();
}

/** "A -[rel]-> B -[rel2]-> C" as {entities: [A, B, C], relations: [rel, rel2]}. */
export function parsePath(text) {
  const parts = String(text).split(/\s+-\[(.*?)\]->\s+/);
  return { entities: parts.filter((_, i) => i % 2 === 0), relations: parts.filter((_, i) => i % 2 === 1) };
}

class Layout {
  constructor() {
    this.nodes = new Map();
    this.edges = [];
    this.taken = new Set();
  }

  node(key, props, row, column) {
    if (this.nodes.has(key)) return this.nodes.get(key);
    while (this.taken.has(`${row}:${column}`)) column += 1;
    this.taken.add(`${row}:${column}`);
    const node = { key, row, column, ...props };
    this.nodes.set(key, node);
    return node;
  }

  entity(name, row, column, extra = {}) {
    return this.node(`e:${normalized(name)}`, { kind: "entity", label: name, entity: name, ...extra }, row, column);
  }

  edge(from, to, label = "", dashed = false) {
    const known = this.edges.some((e) => e.from === from && e.to === to);
    if (from !== to && !known) this.edges.push({ from, to, label, dashed });
  }
}

function hopPath(layout, result, claims) {
  const byN = new Map((result.citations || []).map((c) => [c.n, c]));
  let previous = layout.node("question", { kind: "question", label: "Question" }, 0, 0);
  let column = 1;
  claims.forEach((claim, i) => {
    const citation = byN.get(claim.n);
    if (!citation) return;
    const passage = layout.node(`p:${claim.n}`, { kind: "passage", label: `[${claim.n}] ${citation.title}`,
      title: citation.title, passageId: citation.passage_id, claim }, 0, column);
    layout.edge(previous, passage, claim.question ? `step ${i + 1}` : "");
    previous = passage;
    column = passage.column + 1;
    if (claim.answer) {
      previous = layout.entity(claim.answer, 0, column);
      layout.edge(passage, previous, "answers");
      column = previous.column + 1;
    }
  });
  if (!result.abstained) {
    const answer = layout.entity(result.answer, 0, column);
    answer.answer = true;
    layout.edge(previous, answer);
  }
}

function graphPaths(layout, paths) {
  const passages = [...layout.nodes.values()].filter((n) => n.kind === "passage");
  const aboutOf = (name) => passages.find((p) => normalized(p.title) === normalized(name));
  paths.forEach((text, i) => {
    const { entities, relations } = parsePath(text);
    const known = entities.map((name) => layout.nodes.get(`e:${normalized(name)}`) || aboutOf(name)).find(Boolean);
    let at = known ? known.column : 0;
    let last = null;
    entities.forEach((name, k) => {
      const node = layout.entity(name, i + 1, at);
      at = node.column + 1;
      if (last) layout.edge(last, node, relations[k - 1]);
      const about = node.row > 0 ? aboutOf(name) : null;
      if (about) layout.edge(about, node, "about", true);
      last = node;
    });
  });
}

/** The layout of an answer's graph: the hop path from its claims, then its graph paths. */
export function layoutOf(result, claims) {
  const layout = new Layout();
  hopPath(layout, result, claims);
  graphPaths(layout, result.graph_paths || []);
  return layout;
}

function position(node) {
  return { x: MARGIN + node.column * COLUMN, y: MARGIN + 14 + node.row * ROW };
}

function edgePath(a, b) {
  const p = position(a);
  const q = position(b);
  if (a.row === b.row && b.column > a.column) {
    return { d: `M${p.x + NODE_W},${p.y + NODE_H / 2} L${q.x - 4},${q.y + NODE_H / 2}`,
      mid: { x: (p.x + NODE_W + q.x) / 2, y: p.y + NODE_H / 2 - 6 } };
  }
  const [x1, y1] = [p.x + NODE_W / 2, b.row >= a.row ? p.y + NODE_H : p.y];
  const [x2, y2] = [q.x + NODE_W / 2, b.row >= a.row ? q.y - 4 : q.y + NODE_H + 4];
  const bend = a.row === b.row ? 40 : 0;
  return { d: `M${x1},${y1} C${x1},${(y1 + y2) / 2 + bend} ${x2},${(y1 + y2) / 2 + bend} ${x2},${y2}`,
    mid: { x: (x1 + x2) / 2, y: (y1 + y2) / 2 + bend - 4 } };
}

function nodeElement(node, onOpen) {
  const { x, y } = position(node);
  const clickable = node.kind !== "question";
  const title = node.kind === "passage" ? `open passage ${node.label}` : `open the passage about ${node.label}`;
  const group = svg("g", { class: `node ${node.kind}${node.answer ? " is-answer" : ""}`, transform: `translate(${x},${y})`,
    dataset: { kind: node.kind, label: node.label }, tabindex: clickable ? 0 : null, role: clickable ? "button" : null,
    "aria-label": clickable ? title : node.label },
  svg("title", {}, node.label),
  svg("rect", { width: NODE_W, height: NODE_H, rx: node.kind === "entity" ? NODE_H / 2 : 6 }),
  svg("text", { x: NODE_W / 2, y: NODE_H / 2 + 4, "text-anchor": "middle" }, shorten(node.label, LABEL)));
  if (clickable) {
    group.addEventListener("click", () => onOpen(node));
    group.addEventListener("keydown", (event) => (event.key === "Enter" || event.key === " ") && onOpen(node));
  }
  return group;
}

/** Draw the graph of `result` (with its explanation's claims) into `root`; onOpen(node) opens its passage. */
export function renderGraph(root, result, claims, onOpen) {
  const layout = layoutOf(result, claims);
  const nodes = [...layout.nodes.values()];
  const width = MARGIN * 2 + (Math.max(...nodes.map((n) => n.column)) + 1) * COLUMN - (COLUMN - NODE_W);
  const height = MARGIN * 2 + 14 + (Math.max(...nodes.map((n) => n.row)) + 1) * ROW - (ROW - NODE_H);
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
    markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow-head" }));
  const edges = layout.edges.map(({ from, to, label, dashed }) => {
    const { d, mid } = edgePath(from, to);
    return svg("g", { class: dashed ? "edge dashed" : "edge" }, svg("path", { d, "marker-end": "url(#arrow)" }),
      label ? svg("text", { x: mid.x, y: mid.y, "text-anchor": "middle" }, shorten(label, 12)) : null);
  });
  const drawing = svg("svg", { class: "graph-svg", viewBox: `0 0 ${width} ${height}`, width, height,
    role: "img", "aria-label": "the answer's hop path and graph paths" },
  svg("defs", {}, marker), svg("text", { x: MARGIN, y: MARGIN, class: "row-label" }, "Hop path"), edges,
  nodes.map((node) => nodeElement(node, onOpen)));
  if ((result.graph_paths || []).length) {
    drawing.append(svg("text", { x: MARGIN, y: MARGIN + ROW, class: "row-label" }, "Graph paths"));
  }
  root.hidden = false;
  fill(root, h("div", { class: "card-head" }, h("h2", {}, "Evidence graph"),
    h("span", { class: "muted small" }, "click a passage or an entity to read it")),
  h("div", { class: "graph-scroll" }, drawing));
}
