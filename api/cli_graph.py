"""`sleuth graph info|neighbors|paths`: look at an index's knowledge graph."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from api.cli_output import print_json
from api.progress_bars import TerminalProgress
from kg.graph import GRAPH_DIR, KnowledgeGraph
from kg.graph_search import GraphIndex
from kg.graph_stage import KnowledgeGraphStage, add_graph, graph_stage
from kg.name_vectors import SynonymConfig
from kg.openie import CompletionModel
from reasoning.llm.protocol import GenerationParams, LLMBackend, Prompt
from retrieval.bundle import IndexBundle
from retrieval.embedders import Embedder
from retrieval.errors import ConfigError
from retrieval.passage_store import PassageStore
from retrieval.searcher import Searcher


def add_graph_commands(commands: argparse._SubParsersAction) -> None:
    graph = commands.add_parser("graph", help="inspect and explore the knowledge graph of an index")
    actions = graph.add_subparsers(dest="graph_command", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="(re)build the graph of an existing index, without re-embedding")
    build.add_argument("dir", type=Path, metavar="DIR")
    add_graph_options(build)
    build.set_defaults(handler=run_build)

    info = actions.add_parser("info", help="counts, build settings and the best-connected entities")
    info.add_argument("dir", type=Path, metavar="DIR")
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=run_info)

    neighbors = actions.add_parser("neighbors", help="entities around an entity, with supporting passages")
    neighbors.add_argument("entity", metavar="ENTITY", help="an entity name, alias or id")
    neighbors.add_argument("--index", required=True, type=Path, metavar="DIR")
    neighbors.add_argument("--hops", type=int, default=2)
    neighbors.add_argument("--limit", type=int, default=20)
    neighbors.add_argument("--json", action="store_true")
    neighbors.set_defaults(handler=run_neighbors)

    paths = actions.add_parser("paths", help="the shortest, strongest paths between two entities")
    paths.add_argument("source", metavar="A")
    paths.add_argument("target", metavar="B")
    paths.add_argument("--index", required=True, type=Path, metavar="DIR")
    paths.add_argument("-n", type=int, default=5, help="number of paths")
    paths.add_argument("--max-length", type=int, default=4, help="edges per path at most")
    paths.add_argument("--json", action="store_true")
    paths.set_defaults(handler=run_paths)


def add_graph_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kg-synonyms",
        choices=("surface", "embedder"),
        default="surface",
        help="name vectors for synonym edges: character trigrams (fast) or the embedder",
    )
    parser.add_argument(
        "--kg-synonym-threshold",
        type=float,
        default=SynonymConfig().threshold,
        help="cosine similarity of two entity names for a synonym edge",
    )
    parser.add_argument("--ner-processes", type=int, default=1, help="spaCy NER worker processes")
    parser.add_argument(
        "--kg-llm",
        metavar="SPEC",
        default=None,
        help="also extract (subject, relation, object) triples with this LLM and add them to the graph as "
        "relation edges, e.g. llama-cpp:qwen2.5-coder-0.5b (CPU, a few seconds a passage) or "
        "openai:http://host:8000/v1#MODEL (default: no relation extraction)",
    )
    parser.add_argument(
        "--kg-llm-limit",
        type=int,
        metavar="N",
        default=None,
        help="give only the first N passages to the --kg-llm model (default: all)",
    )


def check_graph_options(args: argparse.Namespace) -> None:
    """Refuse option combinations that cannot work, before anything slow starts."""
    if args.kg_llm_limit is not None and args.kg_llm is None:
        raise ConfigError("--kg-llm-limit needs --kg-llm SPEC (the model that extracts the relations)")
    if args.kg_llm_limit is not None and args.kg_llm_limit < 1:
        raise ConfigError(f"--kg-llm-limit must be at least 1 passage, got {args.kg_llm_limit}")
    if args.kg_llm is not None and not args.kg_llm.strip():
        raise ConfigError("--kg-llm needs a model spec, e.g. llama-cpp:qwen2.5-coder-0.5b")
    if args.kg_llm is not None and getattr(args, "no_kg", False):
        raise ConfigError("--kg-llm adds relations to the knowledge graph: it cannot go with --no-kg")


def stage_from_args(
    args: argparse.Namespace,
    embedder: Embedder | None,
    *,
    make_llm: Callable[[str], CompletionModel] | None = None,
) -> KnowledgeGraphStage:
    """The graph stage the options ask for; `make_llm` builds the --kg-llm backend (tests pass a fake)."""
    check_graph_options(args)
    synonyms = SynonymConfig(vectors=args.kg_synonyms, threshold=args.kg_synonym_threshold)
    relations = None
    if args.kg_llm is not None:
        relations = (make_llm or relation_llm)(args.kg_llm)
    return graph_stage(
        embedder,
        synonyms=synonyms,
        ner_processes=args.ner_processes,
        relations=relations,
        relation_model=args.kg_llm,
        llm_limit=args.kg_llm_limit,
    )


def relation_llm(spec: str) -> CompletionModel:
    """The --kg-llm backend: any spec `sleuth ask --llm` takes; models are joined into the usual cache."""
    from reasoning.llm.factory import make_backend
    from reasoning.llm.model_files import default_model_cache

    return ChatCompletions(make_backend(spec, cache_dir=default_model_cache()))


class ChatCompletions:
    """A backend as a `kg.openie.CompletionModel` that sends each prompt as one user message, so that an
    instruct model reads it under its own chat template (greedy, JSON under the schema). The backends'
    own `complete` sends the bare text, under which Qwen2.5-Coder-0.5B found 1 triple a passage, often
    reversed, against 4 in this form."""

    def __init__(self, backend: LLMBackend) -> None:
        self.backend = backend

    def complete(self, prompts: Sequence[str], *, max_tokens: int, json_schema: dict[str, Any] | None) -> list[str]:
        params = GenerationParams(max_tokens=max_tokens, temperature=0.0, json_schema=json_schema)
        messages: list[Prompt] = [[{"role": "user", "content": prompt}] for prompt in prompts]
        return [completion.text for completion in self.backend.generate(messages, params)]


def run_build(args: argparse.Namespace) -> int:
    bundle = IndexBundle.open(args.dir)
    embedder = Searcher(bundle).embedder if args.kg_synonyms == "embedder" else None
    manifest = add_graph(args.dir, stage_from_args(args, embedder), progress=TerminalProgress())
    counts = manifest.data["graph"]["counts"]
    print(f"built the graph of {args.dir}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return 0


def _open(directory: Path) -> tuple[IndexBundle, GraphIndex]:
    bundle = IndexBundle.open(directory)
    return bundle, GraphIndex(bundle)


def _entity(graph: KnowledgeGraph, name: str) -> int:
    index = graph.find(name)
    if index is None:
        raise ConfigError(f"no entity named {name!r} in the graph (try `sleuth graph info` for names)")
    return index


def _passages(store: PassageStore, rows: list[int] | tuple[int, ...]) -> list[dict[str, str]]:
    return [{"passage_id": p.id, "title": p.title} for p in store.get_rows(list(rows))]


def run_info(args: argparse.Namespace) -> int:
    bundle, index = _open(args.dir)
    graph = index.graph
    degree = graph.nx.degree
    top = sorted(range(graph.num_entities), key=lambda e: (-degree[e], e))[:10]
    data: dict[str, Any] = {
        "section": bundle.manifest.data["graph"],
        "top_entities": [
            {
                "name": graph.entities[e].name,
                "label": graph.entities[e].label,
                "degree": degree[e],
                "passages": graph.entities[e].passages,
            }
            for e in top
        ],
        "directory": str(args.dir / GRAPH_DIR),
    }
    if args.json:
        print_json(data)
        return 0
    counts = data["section"]["counts"]
    print(f"graph of {args.dir}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    print(
        "best-connected entities: "
        + "; ".join(f"{t['name']} ({t['label']}, {t['degree']})" for t in data["top_entities"])
    )
    return 0


def run_neighbors(args: argparse.Namespace) -> int:
    bundle, index = _open(args.index)
    graph, explorer = index.graph, index.explorer
    seed = _entity(graph, args.entity)
    found = explorer.neighbours([seed], hops=args.hops, limit=args.limit)
    rows: list[dict[str, Any]] = [
        {
            "entity": graph.entities[n.entity].name,
            "entity_id": graph.entities[n.entity].id,
            "hops": n.hops,
            "via": [graph.entities[e].name for e in n.via],
            "edge_types": list(n.edge_types),
            "weight": round(n.weight, 4),
            "passages": _passages(bundle.store, n.support[:5]),
        }
        for n in found
    ]
    if args.json:
        print_json({"entity": graph.entities[seed].name, "neighbors": rows})
        return 0
    print(f"neighbours of {graph.entities[seed].name} within {args.hops} hops:")
    for row in rows:
        print(
            f"  {row['hops']} hop  {' -> '.join(row['via'])}  [{', '.join(row['edge_types'])}]  "
            f"passages: {'; '.join(p['title'] for p in row['passages'])}"
        )
    return 0


def run_paths(args: argparse.Namespace) -> int:
    bundle, index = _open(args.index)
    graph, explorer = index.graph, index.explorer
    a, b = _entity(graph, args.source), _entity(graph, args.target)
    found = explorer.paths(a, b, n=args.n, max_length=args.max_length)
    rows: list[dict[str, Any]] = [
        {
            "entities": [graph.entities[e].name for e in p.entities],
            "edge_types": [list(t) for t in p.edge_types],
            "relations": list(p.relations),
            "length": p.length,
            "weight": round(p.weight, 4),
            "passages": _passages(bundle.store, p.support[:8]),
        }
        for p in found
    ]
    if args.json:
        print_json({"source": graph.entities[a].name, "target": graph.entities[b].name, "paths": rows})
        return 0
    if not rows:
        print(
            f"no path of at most {args.max_length} edges between {graph.entities[a].name} and {graph.entities[b].name}"
        )
    for row in rows:
        print(
            f"  {' -> '.join(row['entities'])}  (length {row['length']}, weight {row['weight']})  "
            f"passages: {'; '.join(p['title'] for p in row['passages'])}"
        )
    return 0
