"""Scripted replies and a system over the small test graph, for unit tests of the reasoning loop."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kg.graph_search import GraphIndex
from reasoning.llm.scripted import Matcher, Reply, ScriptedLLM
from reasoning.settings import SystemSettings
from reasoning.system import SleuthSystem, build_system
from tests.fakes import HashingEmbedder

PLAN = "Task plan: split"
STEP = "Task answer: facts"
CHECK = "Task check:"
VERIFY = "Task verify:"
JUDGE = "Task judge:"
READ = "Task read:"
HOP_PLAN = "Plan how to answer a question by looking facts up"  # the hop-by-hop search's prompts (reasoning.prompts)
HOP = "You answer one simple question"
COMPOSE = "Facts found:"

QUESTION = "In which city is the company founded by Alice Smith based?"


def reply(**fields: Any) -> str:
    return json.dumps(fields)


def plan(*steps: str, criteria: dict[str, float] | None = None) -> str:
    return reply(sub_questions=list(steps), **({"criteria": criteria} if criteria else {}))


def step(answer: str = "unknown", facts: str = "", next_query: str = "") -> str:
    return reply(facts=facts, answer=answer, next_query=next_query)


def hop_plan(*steps: str, operation: str = "answer", over: Sequence[int] = (), choices: Sequence[str] = ()) -> str:
    return reply(steps=list(steps), operation=operation, over=list(over or [len(steps)]), choices=list(choices))


def hop_answers(answers: dict[str, str | Sequence[str]], default: str = "unknown") -> Callable[[str], str]:
    """A hop reader that answers the step question the prompt ends with; a list answers the k-th reading
    of the same step with item k (the last one after that)."""
    seen: dict[str, int] = {}

    def answer(prompt: str) -> str:
        step = prompt.rsplit("Question: ", 1)[-1].strip()
        found = answers.get(step, default)
        if not isinstance(found, str):
            k = seen.get(step, 0)
            seen[step] = k + 1
            found = found[min(k, len(found) - 1)]
        return reply(answer=found)

    return answer


HOP_RULES: list[tuple[Matcher, Reply]] = [
    (HOP_PLAN, hop_plan("Which company did Alice Smith found?", "Where is #1 based?")),
    (COMPOSE, reply(answer="Berlin")),
    (
        HOP,
        hop_answers(
            {"Which company did Alice Smith found?": "Acme Corporation", "Where is Acme Corporation based?": "Berlin"}
        ),
    ),
]

DEFAULT_RULES: list[tuple[Matcher, Reply]] = [
    *HOP_RULES,
    (PLAN, plan("Which company did Alice Smith found?", "Where is #1 based?")),
    (STEP, step("Berlin", "Alice Smith founded Acme Corp [1]; Acme is based in Berlin [2].")),
    (CHECK, reply(sufficient=True, confidence=0.9, missing="")),
    (VERIFY, reply(supported=True, answer="Berlin")),
    (JUDGE, reply(scores=[3, 2, 1, 0, 0, 0])),
    (READ, reply(facts="Acme is based in Berlin [1].", answer="Berlin")),
]


def scripted(rules: Sequence[tuple[Matcher, Reply]] = ()) -> ScriptedLLM:
    """Rules given first win over the defaults."""
    return ScriptedLLM([*rules, *DEFAULT_RULES], default=None)


def make_system(llm: ScriptedLLM, **settings: Any) -> SleuthSystem:
    """The system as `build_system` makes it for users (the shipped trained critic included), on the
    scripted LLM, the hashing embedder and the small test graph."""
    embedder = HashingEmbedder()
    return build_system(
        SystemSettings(llm="scripted", **settings),
        backend=llm,
        embedder_factory=lambda _: embedder,
        graph_loader=lambda bundle: GraphIndex(bundle),
    )


def purposes(trace: dict[str, Any]) -> list[str]:
    return [e["purpose"] for e in trace["events"] if e["stage"] == "llm"]


def stages(trace: dict[str, Any]) -> list[str]:
    return [e["stage"] for e in trace["events"]]


def index_without_graph(tmp_path: Path) -> Path:
    from retrieval.builder import build_index
    from tests.conftest import DOCS, write_jsonl

    dump = write_jsonl(tmp_path / "docs.jsonl", DOCS)
    build_index([dump], tmp_path / "plain", HashingEmbedder())
    return tmp_path / "plain"
