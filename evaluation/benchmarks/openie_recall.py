"""LLM relation edges (`sleuth index build --kg-llm`): what they cost to build and what they do to recall.

    python -m evaluation.benchmarks.openie_recall --set 2wikimultihopqa --passages 200 \\
        --llm llama-cpp:qwen2.5-coder-0.5b --out results/kg/openie-2wikimultihopqa

Takes the first questions of a set's dev file until their own context paragraphs (gold and distractors,
as `sleuth eval --context-only` does) reach `--passages`, writes those paragraphs as a corpus, builds two
indexes of it with `sleuth index build`, one plain and one with `--kg-llm`, and measures the gold
paragraphs' Recall@2/5/10 for hybrid, graph and hybrid+graph search on each. Writes summary.json,
summary.md and run.json (the command, the commit, the settings and the `sleuth` commands it ran) to
--out; the indexes go to --work and are reused unless --rebuild is given (the LLM build takes minutes).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evaluation.corpus import prepare_corpus
from evaluation.datasets import Question, load_questions
from evaluation.retrieval_metrics import recall_at_k
from evaluation.run_settings import code_commit
from kg.graph import RELATION, KnowledgeGraph
from kg.graph_search import GraphIndex, GraphSearcher
from kg.ner import SpacyEntityExtractor
from retrieval.bundle import MANIFEST, IndexBundle
from retrieval.searcher import Searcher

log = logging.getLogger(__name__)

KS = (2, 5, 10)
MODES = ("hybrid", "graph", "hybrid+graph")
VARIANTS = ("plain", "relations")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = datetime.now(UTC)
    questions_path = args.data / args.set / "dev.jsonl"
    questions = questions_for_passages(load_questions(questions_path, dataset=args.set), args.passages)
    work: Path = args.work / args.set
    work.mkdir(parents=True, exist_ok=True)
    corpus = prepare_corpus(
        args.set, questions_path, args.data / args.set / "corpus.jsonl.gz", work, context_of=questions
    )
    commands = {
        "plain": _build_command(corpus, work / "index-plain", []),
        "relations": _build_command(corpus, work / "index-relations", ["--kg-llm", args.llm, *_limit(args)]),
    }
    builds = {name: _build(command, work / f"index-{name}", args.rebuild) for name, command in commands.items()}
    recall = {name: measure_recall(work / f"index-{name}", questions) for name in VARIANTS}
    summary = {
        "benchmark": "openie-recall",
        "set": args.set,
        "questions": len(questions),
        "passages": builds["plain"]["graph"]["counts"]["passages"],
        "llm": args.llm,
        "builds": builds,
        "recall": {name: recall[name]["table"] for name in VARIANTS},
        "paired": paired_changes(recall["plain"]["per_question"], recall["relations"]["per_question"]),
        "relation_examples": relation_examples(work / "index-relations", 15),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (args.out / "summary.md").write_text(render(summary), encoding="utf-8")
    run = {
        "command": "python -m evaluation.benchmarks.openie_recall " + shlex.join(argv or sys.argv[1:]),
        "commit": code_commit(),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "question_ids": [q.id for q in questions],
        "sleuth_commands": {name: shlex.join(command) for name, command in commands.items()},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
    }
    (args.out / "run.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    print(render(summary))
    return 0


def questions_for_passages(questions: Sequence[Question], passages: int) -> list[Question]:
    """The first questions whose context paragraphs together reach `passages` distinct ids."""
    chosen: list[Question] = []
    ids: set[str] = set()
    for question in questions:
        if len(ids) >= passages:
            break
        chosen.append(question)
        ids.update(question.context_ids or question.supporting_ids)
    return chosen


def measure_recall(index: Path, questions: Sequence[Question]) -> dict[str, Any]:
    bundle = IndexBundle.open(index)
    searcher = GraphSearcher(Searcher(bundle), graph_loader=lambda b: GraphIndex(b, SpacyEntityExtractor()))
    texts = [q.question for q in questions]
    table: dict[str, dict[str, float]] = {}
    per_question: dict[str, list[dict[str, float]]] = {}
    for mode in MODES:
        hits = searcher.search_many(texts, mode, k=3 * max(KS))  # several passages of one document count once
        ranked = [[h.passage.doc_id for h in found] for found in hits]
        rows = [
            {f"R@{k}": recall_at_k(r, q.supporting_ids, k) for k in KS} for r, q in zip(ranked, questions, strict=True)
        ]
        per_question[mode] = rows
        table[mode] = {f"R@{k}": round(sum(row[f"R@{k}"] for row in rows) / len(rows), 4) for k in KS}
    return {"table": table, "per_question": per_question}


def paired_changes(
    plain: dict[str, list[dict[str, float]]], relations: dict[str, list[dict[str, float]]]
) -> dict[str, Any]:
    """Per mode and k: the mean change with relation edges, and how many questions gained or lost."""
    changes: dict[str, Any] = {}
    for mode in MODES:
        changes[mode] = {}
        for k in KS:
            deltas = [b[f"R@{k}"] - a[f"R@{k}"] for a, b in zip(plain[mode], relations[mode], strict=True)]
            changes[mode][f"R@{k}"] = {
                "mean_change": round(sum(deltas) / len(deltas), 4),
                "gained": sum(d > 0 for d in deltas),
                "lost": sum(d < 0 for d in deltas),
            }
    return changes


def relation_examples(index: Path, n: int) -> list[str]:
    """A few relation edges as "subject -[relation]-> object", to judge what the LLM read."""
    graph = KnowledgeGraph.load(index / "graph")
    edges = graph.edges
    found = [i for i in range(len(edges)) if int(edges.type[i]) == RELATION]
    step = max(1, len(found) // n)
    return [
        f"{graph.entities[edges.src[i]].name} -[{graph.relations[edges.relation[i]]}]-> "
        f"{graph.entities[edges.dst[i]].name}"
        for i in found[::step][:n]
    ]


def render(summary: dict[str, Any]) -> str:
    lines = [
        f"# LLM relation edges on {summary['set']}: {summary['questions']} questions, "
        f"{summary['passages']} passages, {summary['llm']}",
        "",
        "| index | entities | mentions | relation edges | co-occurrence edges | synonym edges | graph stage s | "
        "LLM s | triples kept | failures |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in VARIANTS:
        build = summary["builds"][name]
        counts, llm = build["graph"]["counts"], build["graph"]["llm_relations"]
        lines.append(
            f"| {name} | {counts['entities']} | {counts['mentions']} | {counts['relation_edges']} | "
            f"{counts['cooccurrence_edges']} | {counts['synonym_edges']} | {build['graph_seconds']:.1f} | "
            f"{llm.get('seconds', 0):.1f} | {llm.get('triples', '-')} | {llm.get('failures', '-')} |"
        )
    lines += ["", "| mode | index | " + " | ".join(f"R@{k}" for k in KS) + " |", "|---|---|" + "---|" * len(KS)]
    for mode in MODES:
        for name in VARIANTS:
            values = " | ".join(f"{summary['recall'][name][mode][f'R@{k}']:.3f}" for k in KS)
            lines.append(f"| {mode} | {name} | {values} |")
    lines += ["", "Per question, relations against plain (questions gained / lost):", ""]
    for mode in MODES:
        parts = [
            f"R@{k} {c['mean_change']:+.3f} ({c['gained']}/{c['lost']})"
            for k, c in ((k, summary["paired"][mode][f"R@{k}"]) for k in KS)
        ]
        lines.append(f"- {mode}: " + ", ".join(parts))
    lines += ["", "Relation edges read by the LLM (a sample):", ""]
    lines += [f"- {example}" for example in summary["relation_examples"]]
    return "\n".join(lines) + "\n"


def _build_command(corpus: Path, out: Path, extra: list[str]) -> list[str]:
    build = ["index", "build", "--input", str(corpus), "--out", str(out), "--overwrite", *extra]
    return [sys.executable, "-m", "api.cli", *build]


def _limit(args: argparse.Namespace) -> list[str]:
    return [] if args.llm_limit is None else ["--kg-llm-limit", str(args.llm_limit)]


def _build(command: list[str], out: Path, rebuild: bool) -> dict[str, Any]:
    """Runs the build unless its index is there already; the figures come from its manifest."""
    if rebuild or not (out / MANIFEST).exists():
        log.info("running %s", shlex.join(command))
        start = time.perf_counter()
        subprocess.run(command, check=True)
        log.info("built %s in %.1f s", out, time.perf_counter() - start)
    data = IndexBundle.open(out).manifest.data
    stages = data["build"]["stages"]
    graph_stages = ("ner", "llm-relations", "synonyms", "graph")
    return {
        "total_seconds": data["build"]["total_seconds"],
        "graph_seconds": round(sum(stages[s]["seconds"] for s in graph_stages if s in stages), 2),
        "stages": {name: stage["seconds"] for name, stage in stages.items()},
        "graph": {"counts": data["graph"]["counts"], "llm_relations": data["graph"]["llm_relations"]},
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--set", default="2wikimultihopqa", help="a folder of --data with dev.jsonl and corpus.jsonl.gz"
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--passages", type=int, default=200, help="context paragraphs to reach (default 200)")
    parser.add_argument("--llm", default="llama-cpp:qwen2.5-coder-0.5b", help="the --kg-llm spec")
    parser.add_argument("--llm-limit", type=int, default=None, help="--kg-llm-limit (default: every passage)")
    parser.add_argument("--work", type=Path, default=Path(".sleuth/openie-bench"), help="where the indexes go")
    parser.add_argument("--out", type=Path, required=True, help="the results folder")
    parser.add_argument("--rebuild", action="store_true", help="build the indexes even if they exist")
    return parser


if __name__ == "__main__":
    sys.exit(main())
