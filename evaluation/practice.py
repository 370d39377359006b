"""Self-practice (SIM-RAG): run the Sleuth loop on questions with gold answers and label every round.

Each question is asked `samples` times (sample 0 with the deployed sampling, later ones at `temperature`
with their own seeds) with `chains` chains for `rounds` rounds. A `PracticeCritic` takes the critic's
place: it lets the budget's own critic guide the search (what is missing) and records the decisions of the
feature critic (and the prompted one when asked), but never stops a chain, so every round of every chain
is seen and labelled: "sufficient" when that round's candidate answer has F1 above the threshold against
gold. The records go to a `PracticeFile` (format in `evaluation.practice_file`); like the benchmark runner
it resumes (a run already in the file is skipped, a failed one asked again with `retry_failed`) and a
failing question is recorded and skipped over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from evaluation.answer_metrics import rules_for, score_answer
from evaluation.datasets import Question
from evaluation.practice_file import PracticeFile, label_of
from evaluation.runner import seed_everything
from reasoning.budget import Budget, resolve_budget
from reasoning.context import MethodContext
from reasoning.critic import CriticInput, FeatureCritic, PromptedCritic, SufficiencyCritic, Verdict, critic_features
from reasoning.llm.accounting import SpendingLedger
from reasoning.llm.protocol import LLMBackend
from reasoning.loop import LoopPolicy, ReasoningLoop
from reasoning.resources import IndexResources
from reasoning.result import AskResult
from reasoning.stop_policy import StopPolicy
from reasoning.structured import JsonCaller
from reasoning.trace import Trace
from retrieval.bundle import MANIFEST
from retrieval.checksums import sha256_file
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)
SAMPLE_SEED_STEP = 7919  # seeds of successive samples of a question are this far apart


class PracticeSystem(Protocol):
    """What practice needs of `SleuthSystem`: its backend and its opened indexes."""

    @property
    def backend(self) -> LLMBackend: ...

    def index(self, directory: Path | str) -> IndexResources: ...


class PracticeProgress(Protocol):
    def start(self, total: int, skipped: int) -> None: ...

    def advance(self, records: int, failed: bool) -> None: ...


@dataclass(frozen=True)
class PracticePlan:
    dataset: str
    index: Path
    llm: str  # the backend spec, for provenance
    budget: str = "fast"  # the preset whose reranking and critic guide the search
    chains: int = 3
    rounds: int = 3
    samples: int = 2
    seed: int = 0
    temperature: float = 0.7  # of the reasoning step in samples after the first
    threshold: float = 0.5  # F1 above which a candidate is labelled sufficient
    prompted: bool = False  # also record the prompted critic's decisions (one LLM call per round)
    answer_every_round: bool = False  # the reader answers every round, never "unknown" (the budget knob)
    retry_failed: bool = False

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ConfigError(f"samples must be at least 1, got {self.samples}")
        if not 0.0 <= self.threshold < 1.0:
            raise ConfigError(f"threshold must be in [0, 1), got {self.threshold}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ConfigError(f"temperature must be in [0, 2], got {self.temperature}")
        self.practice_budget()  # chains and rounds are checked by the budget

    def practice_budget(self) -> Budget:
        """The budget of a practice run: K chains, R rounds, no final verification, caps wide enough that
        every round runs."""
        base = resolve_budget(self.budget)
        return resolve_budget(
            base,
            chains=self.chains,
            max_rounds=self.rounds,
            verify=False,
            answer_every_round=self.answer_every_round,
            max_llm_calls=max(base.max_llm_calls, 4 + 3 * self.rounds),
            max_tokens=max(base.max_tokens, 8_000 * self.chains * self.rounds),
        )

    def sample_seed(self, sample: int) -> int:
        return self.seed + sample * SAMPLE_SEED_STEP


@dataclass(frozen=True)
class PracticeOutcome:
    runs: int
    skipped: int
    failed: int
    records: int


@dataclass(frozen=True)
class Observation:
    round: int
    item: CriticInput
    features: dict[str, float]
    decisions: dict[str, Verdict]


@dataclass
class PracticeCritic:
    """Never stops a chain; the first critic guides the search, every critic's decision is recorded."""

    critics: Sequence[SufficiencyCritic]
    observations: list[Observation] = field(default_factory=list)
    name: str = "practice"

    def judge(self, inputs: Sequence[CriticInput], round_no: int) -> list[Verdict]:
        decisions = {critic.name: critic.judge(inputs, round_no) for critic in self.critics}
        rows = [critic_features(item) for item in inputs]
        for i, (item, features) in enumerate(zip(inputs, rows, strict=True)):
            self.observations.append(Observation(round_no, item, features, {n: v[i] for n, v in decisions.items()}))
        guide = zip(decisions[self.critics[0].name], inputs, strict=True)
        return [Verdict(False, v.confidence, v.missing or item.next_query, self.name, v.features) for v, item in guide]


def run_practice(
    system: PracticeSystem,
    questions: Sequence[Question],
    plan: PracticePlan,
    out: PracticeFile,
    progress: PracticeProgress | None = None,
) -> PracticeOutcome:
    """Practise every (question, sample) the file does not hold yet; each run is appended when done."""
    seed_everything(plan.seed)
    out.repair()
    done = out.done()
    todo = [
        (q, s) for q in questions for s in range(plan.samples) if not _done(done.get((plan.dataset, q.id, s)), plan)
    ]
    skipped = len(questions) * plan.samples - len(todo)
    if skipped:
        log.info("resuming: %d of %d practice runs already in %s", skipped, skipped + len(todo), out.path)
    if progress is not None:
        progress.start(len(todo), skipped)
    provenance = provenance_of(plan)
    failed = written = 0
    for question, sample in todo:
        try:
            records = practice_records(system, question, plan, sample, provenance)
        except Exception as exc:  # one failing question is recorded; the practice goes on
            log.warning("practice of %s (sample %d) failed: %s: %s", question.id, sample, type(exc).__name__, exc)
            records = [_failure(question, plan, sample, f"{type(exc).__name__}: {exc}", provenance)]
            failed += 1
        out.append_run(records)
        written += len(records) if not records[0].get("error") else 0
        if progress is not None:
            progress.advance(len(records), bool(records[0].get("error")))
    return PracticeOutcome(runs=len(todo), skipped=skipped, failed=failed, records=written)


def practice_records(
    system: PracticeSystem, question: Question, plan: PracticePlan, sample: int, provenance: dict[str, Any]
) -> list[dict[str, Any]]:
    """One practice run of a question: a labelled record per chain per round."""
    budget = plan.practice_budget()
    seed = plan.sample_seed(sample)
    temperature = None if sample == 0 else plan.temperature
    llm = JsonCaller(system.backend, SpendingLedger(budget.max_llm_calls, budget.max_tokens), Trace(), seed)
    critics: list[SufficiencyCritic] = [FeatureCritic()]
    if budget.critic == "prompted" or plan.prompted:
        critics.insert(0 if budget.critic == "prompted" else 1, PromptedCritic(llm))
    recorder = PracticeCritic(critics)
    # never stops a run: every round of every chain is seen
    stop = StopPolicy(recorder, answer_every_round=budget.answer_every_round)
    question_text = " ".join(question.question.split())
    ctx = MethodContext(question_text, system.index(plan.index), budget, llm, stop)
    result = ReasoningLoop(ctx, LoopPolicy(method="chains", temperature=temperature)).run()
    run = {"sample": sample, "seed": seed, "temperature": temperature, "chains": plan.chains, "rounds": plan.rounds}
    final = _final(question, plan, result)
    records = [_record(question, plan, obs, run, final, provenance) for obs in recorder.observations]
    for record in records:
        record["run_size"] = len(records)
    if not records:
        raise RuntimeError("the run produced no rounds (no usable LLM reply)")
    return records


def _record(
    question: Question,
    plan: PracticePlan,
    obs: Observation,
    run: dict[str, Any],
    final: dict[str, Any],
    provenance: dict[str, Any],
) -> dict[str, Any]:
    item = obs.item
    score = score_answer(item.answer, question.answers, rules=rules_for(plan.dataset))
    return {
        "dataset": plan.dataset,
        "question_id": question.id,
        "question": item.question,
        "type": question.type,
        "answers": list(question.answers),
        **run,
        "chain": item.chain,
        "round": obs.round,
        "focus": item.focus,
        "plan_done": item.plan_done,
        "next_query": item.next_query,
        "evidence": [
            {
                "passage_id": e.passage.id,
                "title": e.passage.title,
                "sentences": list(e.sentences),
                "score": round(e.score, 5),
                "round": e.round,
                "sources": list(e.sources),
            }
            for e in item.evidence
        ],
        "facts": list(item.facts),
        "answer": item.answer,
        "previous_answer": item.previous_answer,
        "others": list(item.others),
        "answer_logprob": item.answer_logprob,
        "answer_min_logprob": item.answer_min_logprob,
        "em": score.em,
        "f1": round(score.f1, 6),
        "label": label_of(score.f1, plan.threshold),
        "threshold": plan.threshold,
        "features": {k: round(v, 6) for k, v in obs.features.items()},
        "decisions": {
            n: {"sufficient": v.sufficient, "confidence": round(v.confidence, 4)} for n, v in obs.decisions.items()
        },
        "final": final,
        "provenance": provenance,
    }


def _final(question: Question, plan: PracticePlan, result: AskResult) -> dict[str, Any]:
    score = score_answer(result.answer, question.answers, rules=rules_for(plan.dataset))
    return {
        "answer": result.answer,
        "f1": round(score.f1, 6),
        "llm_calls": result.cost.llm_calls,
        "tokens": result.cost.tokens,
        "seconds": round(result.cost.seconds, 3),
    }


def provenance_of(plan: PracticePlan) -> dict[str, Any]:
    manifest = Path(plan.index) / MANIFEST
    return {
        "llm": plan.llm,
        "index": str(Path(plan.index).expanduser().resolve()),
        "index_manifest_sha256": sha256_file(manifest) if manifest.is_file() else None,
        "budget": plan.practice_budget().to_json(),
        "seed": plan.seed,
        "samples": plan.samples,
        "sample_temperature": plan.temperature,
        "prompted": plan.prompted,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "sleuth_version": sleuth_version(),
    }


def sleuth_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sleuth")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout
        return "unknown"


def _failure(
    question: Question, plan: PracticePlan, sample: int, error: str, provenance: dict[str, Any]
) -> dict[str, Any]:
    return {
        "dataset": plan.dataset,
        "question_id": question.id,
        "sample": sample,
        "seed": plan.sample_seed(sample),
        "error": error,
        "at": time.time(),
        "provenance": provenance,
    }


def _done(failed: bool | None, plan: PracticePlan) -> bool:
    return failed is not None and not (plan.retry_failed and failed)
