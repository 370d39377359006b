"""`sleuth index build|info`, `sleuth search` and `sleuth demo`."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from api.cli_graph import add_graph_options, check_graph_options, stage_from_args
from api.cli_output import format_bytes, print_json
from api.progress_bars import TerminalProgress
from kg.graph_search import ALL_MODES, GRAPH_MODES, GraphSearcher, graph_index_with_ner
from kg.graph_stage import graph_stage
from retrieval.bm25_index import BM25Config
from retrieval.builder import BuildOptions, build_index
from retrieval.bundle import IndexBundle, Manifest
from retrieval.dense_index import DenseIndexConfig
from retrieval.embedder_runtime import EMBEDDER_BACKENDS, EmbedderRuntime
from retrieval.embedders import DEFAULT_EMBEDDER, SentenceTransformerEmbedder
from retrieval.errors import SleuthError
from retrieval.readers import FieldMapping
from retrieval.searcher import HybridConfig, Searcher

DEMO_QUERIES = (
    "Which American director of Doctor Strange was born in 1966?",
    "Ed Wood film starring Johnny Depp",
)


def add_index_commands(commands: argparse._SubParsersAction) -> None:
    index = commands.add_parser("index", help="build and inspect index bundles")
    actions = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="build an index bundle from document dumps")
    build.add_argument(
        "--input",
        "-i",
        nargs="+",
        required=True,
        type=Path,
        metavar="PATH",
        help="JSONL (optionally .gz/.bz2/.xz), CSV/TSV with a header, or a directory of .txt/.md",
    )
    build.add_argument("--out", "-o", required=True, type=Path, metavar="DIR", help="the index directory to write")
    build.add_argument("--overwrite", action="store_true", help="replace an existing index at --out")
    build.add_argument(
        "--embedder",
        default=DEFAULT_EMBEDDER,
        metavar="NAME_OR_PATH",
        help=f"sentence-transformers model name or path (default {DEFAULT_EMBEDDER}, packaged)",
    )
    build.add_argument("--no-kg", action="store_true", help="do not build the knowledge graph")
    add_graph_options(build)
    build.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip malformed records (counted and recorded in the manifest) instead of stopping",
    )
    build.add_argument(
        "--data-root",
        type=Path,
        default=None,
        metavar="DIR",
        help="refuse inputs, and files in input directories, that resolve (through symbolic links) outside DIR",
    )
    build.add_argument("--id-field", default="id")
    build.add_argument("--title-field", default="title")
    build.add_argument("--text-field", default="text", help="text field (falls back to `contents`)")
    build.add_argument(
        "--max-passage-tokens",
        type=int,
        default=None,
        help="passage token budget (default: the embedder's input limit)",
    )
    build.add_argument("--overlap-tokens", type=int, default=32, help="sentence overlap between chunks")
    build.add_argument(
        "--faiss",
        choices=("auto", "flat", "hnsw", "ivf"),
        default="auto",
        help="FAISS index type (auto: exact below --exact-threshold vectors, HNSW above)",
    )
    build.add_argument("--exact-threshold", type=int, default=200_000)
    build.add_argument("--bm25-method", default="lucene", help="robertson, lucene, atire, bm25l or bm25+")
    build.add_argument("--bm25-k1", type=float, default=1.5)
    build.add_argument("--bm25-b", type=float, default=0.75)
    build.add_argument("--embed-batch-size", type=int, default=64, help="texts per forward pass of the embedder")
    build.add_argument("--device", default=None, help="embedder device (default: cuda when present, else cpu)")
    build.add_argument(
        "--embedder-backend",
        choices=EMBEDDER_BACKENDS,
        default=None,
        help="embedder runtime (default: SLEUTH_EMBEDDER_BACKEND, else auto: ONNX Runtime int8 on the CPU where "
        "it runs, else torch); recorded in the manifest, and queries use the same",
    )
    build.set_defaults(handler=run_build)

    info = actions.add_parser("info", help="show what an index holds and how it was built")
    info.add_argument("dir", type=Path, metavar="DIR")
    info.add_argument("--json", action="store_true", help="print the manifest as JSON")
    info.set_defaults(handler=run_info)


def add_search_command(commands: argparse._SubParsersAction) -> None:
    search = commands.add_parser("search", help="search an index")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--index", required=True, type=Path, metavar="DIR")
    search.add_argument("--mode", choices=ALL_MODES, default="hybrid")
    search.add_argument("-k", type=int, default=10, help="number of hits (default 10)")
    search.add_argument("--fusion", choices=("rrf", "weighted"), default="rrf", help="hybrid fusion")
    search.add_argument("--json", action="store_true", help='print {"hits": [...], "seconds": ...}')
    search.set_defaults(handler=run_search)


def add_demo_command(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="build an index of the sample corpus, search it, answer a question")
    demo.add_argument("--dir", type=Path, default=Path(".sleuth/demo-index"), help="where to put the index")
    demo.set_defaults(handler=run_demo)


def run_build(args: argparse.Namespace) -> int:
    options = BuildOptions(
        fields=FieldMapping(id=args.id_field, title=args.title_field, text=args.text_field),
        skip_invalid=args.skip_invalid,
        max_passage_tokens=args.max_passage_tokens,
        overlap_tokens=args.overlap_tokens,
        bm25=BM25Config(k1=args.bm25_k1, b=args.bm25_b, method=args.bm25_method),
        dense=DenseIndexConfig(kind=args.faiss, exact_threshold=args.exact_threshold),
        root=args.data_root,
    )
    _check_inputs(args.input, args.data_root)
    check_graph_options(args)
    from reasoning.settings import SystemSettings

    backend = args.embedder_backend or SystemSettings.from_env().embedder_backend
    embedder = SentenceTransformerEmbedder(
        args.embedder, device=args.device, batch_size=args.embed_batch_size, backend=backend
    )
    stages = [] if args.no_kg else [stage_from_args(args, embedder)]
    manifest = build_index(
        args.input,
        args.out,
        embedder,
        options,
        overwrite=args.overwrite,
        progress=TerminalProgress(),
        extra_stages=stages,
    )
    print(f"built index {args.out}")
    _print_summary(manifest, args.out)
    return 0


def _check_inputs(paths: list[Path], root: Path | None) -> None:
    """Fails fast, before the embedder loads, on a missing or unsupported input, or one outside `root`."""
    from retrieval.readers import check_inside, detect_format

    for path in paths:
        detect_format(path)
        if root is not None:
            check_inside(path, root.expanduser().resolve())


def run_info(args: argparse.Namespace) -> int:
    manifest = IndexBundle.open(args.dir).manifest
    if args.json:
        print_json(manifest.data)
    else:
        print(f"index {args.dir}")
        _print_summary(manifest, args.dir)
    return 0


def run_search(args: argparse.Namespace) -> int:
    searcher = GraphSearcher(
        Searcher(IndexBundle.open(args.index), hybrid=HybridConfig(fusion=args.fusion)),
        graph_loader=graph_index_with_ner,
    )
    if args.mode in GRAPH_MODES:
        _ = searcher.graph_index  # load the graph first, so that "seconds" is the query's own time
    result = searcher.search(args.query, args.mode, args.k)
    for query in searcher.last_queries:
        if query.reason:
            print(f"sleuth: note: {query.reason}", file=sys.stderr)
    if args.json:
        print_json(result.to_json())
        return 0
    print(f"{len(result.hits)} hits for {args.query!r} ({args.mode}, {result.seconds * 1000:.1f} ms)")
    for query in searcher.last_queries:
        print("linked entities: " + (", ".join(f"{e.name} ({e.score:.2f})" for e in query.linked) or "none"))
    for hit in result.hits:
        text = hit.passage.text if len(hit.passage.text) <= 160 else hit.passage.text[:157] + "..."
        print(f"{hit.rank:>3}. [{hit.score:.4f}] {hit.passage.title} ({hit.passage.doc_id})\n     {text}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    directory: Path = args.dir
    embedder = SentenceTransformerEmbedder()
    if not _has_graph(directory):
        print(f"building the demo index of the bundled sample corpus into {directory} ...")
        sample = resources.files("retrieval") / "samples" / "hotpotqa_sample.jsonl"
        with resources.as_file(sample) as sample_path:
            build_index(
                [sample_path],
                directory,
                embedder,
                BuildOptions(),
                overwrite=True,
                progress=TerminalProgress(),
                extra_stages=[graph_stage(embedder)],
            )
    bundle = IndexBundle.open(directory)
    _print_summary(bundle.manifest, directory)
    searcher = GraphSearcher(Searcher(bundle, embedder=embedder), graph_loader=graph_index_with_ner)
    for query in DEMO_QUERIES:
        print(f"\n{query}")
        for mode in ALL_MODES:
            result = searcher.search(query, mode, 3)
            titles = "; ".join(f"{h.passage.title} ({h.score:.3f})" for h in result.hits)
            print(f"  {mode:>12} -> {titles}")
    return _demo_ask(directory, embedder)


DEMO_QUESTION = "Were Scott Derrickson and Ed Wood of the same nationality?"


def _demo_ask(directory: Path, embedder: SentenceTransformerEmbedder) -> int:
    """Answer one two-hop question with the CPU model at the fast budget."""
    from api.cli_ask import print_answer
    from reasoning.settings import SystemSettings
    from reasoning.system import build_system

    print(f"\nsleuth ask {DEMO_QUESTION!r} --budget fast  (the CPU model; about half a minute)")
    system = build_system(SystemSettings.from_env(), embedder_factory=lambda _: embedder)
    print_answer(system.ask(DEMO_QUESTION, directory, method="sleuth", budget="fast"))
    return 0


def _has_graph(directory: Path) -> bool:
    try:
        return bool(IndexBundle.open(directory).manifest.data["graph"].get("built"))
    except SleuthError:
        return False


def _print_summary(manifest: Manifest, directory: Path) -> None:
    data: dict[str, Any] = manifest.data
    counts, build = data["counts"], data["build"]
    print(
        f"  documents {counts['documents']:,}  passages {counts['passages']:,}  skipped {counts['skipped_invalid']:,}"
    )
    runtime = EmbedderRuntime.from_manifest(data["embedder"]).describe()
    print(f"  embedder  {data['embedder']['name']} (dimension {data['embedder']['dimension']}, {runtime})")
    print(
        f"  dense     FAISS {data['dense'].get('kind')}   bm25 {data['bm25'].get('method')}   "
        f"graph {'yes' if data['graph'].get('built') else 'no (' + data['graph'].get('reason', '') + ')'}"
    )
    relations = data["graph"].get("llm_relations") or {}
    if relations.get("used"):
        print(
            f"  relations {relations.get('triples', 0):,} triples from {relations.get('passages', 0):,} passages "
            f"by {relations.get('model') or 'an LLM'} ({relations.get('failures', 0):,} failures, "
            f"{relations.get('seconds', 0.0):.1f} s)"
        )
    for name, stage in build["stages"].items():
        print(f"  {name:<17} {stage['seconds']:>9.1f} s  {stage['per_second']:>10,.1f} items/s")
    size = sum(p.stat().st_size for p in Path(directory).rglob("*") if p.is_file())
    print(
        f"  total {build['total_seconds']:.1f} s, peak memory {build['peak_rss_mib']:,.0f} MiB, "
        f"on disk {format_bytes(size)}"
    )
