"""How much test-time compute one question may spend: presets and explicit knobs, with hard caps.

For Sleuth's hop-by-hop search (reasoning.hop_search) a budget is the search's width: `fast` follows a
single path (one reading of three passages per step), `balanced` (the default of `sleuth ask` and
`POST /v1/ask`) keeps two paths and reads two groups of passages per step and path, `thorough` three and
three, with three sentences a passage and two keyword re-searches of a step that stays "unknown". The
other knobs (chains, rounds, criteria, judge, verify, the stop policy) are those of the multi-chain loop
(`--method chains`) and of the `iterative` baseline. Caps on LLM calls and tokens are hard: a method stops
starting new work when the next call could pass them, and answers with what it has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

from retrieval.errors import ConfigError

BudgetName = Literal["fast", "balanced", "thorough"]
BUDGET_NAMES: tuple[BudgetName, ...] = get_args(BudgetName)
DEFAULT_BUDGET: BudgetName = "balanced"  # what `sleuth ask` and `POST /v1/ask` use when none is named

# trained: learnt from self-practice (reasoning.trained_critic); none: never stop early (a fixed number of rounds)
CriticKind = Literal["feature", "prompted", "trained", "none"]
CRITIC_KINDS: tuple[CriticKind, ...] = get_args(CriticKind)


@dataclass(frozen=True)
class Budget:
    name: str = "custom"
    chains: int = 1
    max_rounds: int = 2
    passages_per_round: int = 4  # evidence passages a chain adds per round after reranking
    rerank_depth: int = 20  # candidates the reranker scores per chain and round
    llm_criteria: bool = False  # the LLM infers the reranking criteria weights for the question
    llm_judge: bool = False  # the LLM judges the top candidates (REBEL-style), at higher budgets
    # the stop policy (resolved into critic and rules by `reasoning.stop_policy.resolve_stop_policy`)
    critic: CriticKind = "feature"
    # the trained critic's directory; None: the system's (`SystemSettings.critic_dir`, else the shipped one)
    critic_dir: str | None = None
    # the reader gives its best answer every round, never "unknown", and the critic alone decides when it is
    # enough (SIM-RAG); otherwise only the last round asks for an answer come what may
    answer_every_round: bool = False
    # the run answers as soon as the critic finds one chain sufficient, instead of each chain stopping on its own
    stop_run: bool = False
    verify: bool = False  # re-check the winning answer against its cited passages with the LLM
    # with verify: an answer the critic judged sufficient, uncontested by another chain, is not re-checked by
    # the LLM (the critic has vouched for it)
    trust_critic: bool = False
    sentences_per_passage: int = 2  # evidence sentences the LLM reads per passage
    # hop-by-hop search (sleuth): paths kept after each step, passage groups read per step and path (each a
    # candidate answer), passages per group, and keyword re-searches of a step that stays "unknown"
    beam_width: int = 1
    hop_reads: int = 1
    hop_passages: int = 3
    hop_sentences: int = 2  # sentences per passage a hop's reader sees
    rewrites: int = 1
    max_llm_calls: int = 8
    max_tokens: int = 12_000  # prompt + completion tokens per question

    def __post_init__(self) -> None:
        positive = {
            "chains": self.chains,
            "max_rounds": self.max_rounds,
            "passages_per_round": self.passages_per_round,
            "rerank_depth": self.rerank_depth,
            "sentences_per_passage": self.sentences_per_passage,
            "beam_width": self.beam_width,
            "hop_reads": self.hop_reads,
            "hop_passages": self.hop_passages,
            "hop_sentences": self.hop_sentences,
            "max_llm_calls": self.max_llm_calls,
            "max_tokens": self.max_tokens,
        }
        for key, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"budget {key} must be a positive integer, got {value!r}")
        if self.chains > 8:
            raise ConfigError(f"budget chains must be at most 8, got {self.chains}")
        if self.max_rounds > 8:
            raise ConfigError(f"budget max_rounds must be at most 8, got {self.max_rounds}")
        if self.rerank_depth < self.passages_per_round:
            raise ConfigError(
                f"budget rerank_depth ({self.rerank_depth}) must be at least passages_per_round "
                f"({self.passages_per_round})"
            )
        if not isinstance(self.rewrites, int) or isinstance(self.rewrites, bool) or not 0 <= self.rewrites <= 4:
            raise ConfigError(f"budget rewrites must be an integer from 0 to 4, got {self.rewrites!r}")
        for key in ("beam_width", "hop_reads", "hop_passages", "hop_sentences"):
            if getattr(self, key) > 8:
                raise ConfigError(f"budget {key} must be at most 8, got {getattr(self, key)}")
        if self.critic not in CRITIC_KINDS:
            raise ConfigError(f"unknown critic {self.critic!r}: use {', '.join(CRITIC_KINDS)}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# Every preset states its whole stop policy. `fast`'s is the one its trained critic's self-practice chose
# (results/practice/critic-threshold-sweep-confidence.md): stop the run at the first sufficient chain.
PRESETS: dict[str, Budget] = {
    "fast": Budget(name="fast", critic="trained", stop_run=True, trust_critic=True),
    "balanced": Budget(
        name="balanced",
        chains=2,
        max_rounds=3,
        passages_per_round=4,
        rerank_depth=24,
        llm_criteria=True,
        critic="prompted",
        answer_every_round=False,
        stop_run=False,
        verify=True,
        trust_critic=False,
        beam_width=2,
        hop_reads=2,
        max_llm_calls=20,
        max_tokens=30_000,
    ),
    "thorough": Budget(
        name="thorough",
        chains=3,
        max_rounds=4,
        passages_per_round=5,
        rerank_depth=30,
        llm_criteria=True,
        llm_judge=True,
        critic="prompted",
        answer_every_round=False,
        stop_run=False,
        verify=True,
        trust_critic=False,
        sentences_per_passage=3,
        beam_width=3,
        hop_reads=3,
        hop_sentences=3,
        rewrites=2,
        max_llm_calls=48,
        max_tokens=80_000,
    ),
}
KNOBS = tuple(k for k in Budget.__dataclass_fields__ if k != "name")


def resolve_budget(budget: str | Budget, **overrides: Any) -> Budget:
    """A preset by name (or a Budget as is), with explicit knobs applied on top."""
    if isinstance(budget, Budget):
        base = budget
    elif budget in PRESETS:
        base = PRESETS[budget]
    else:
        raise ConfigError(f"unknown budget {budget!r}: use one of {', '.join(BUDGET_NAMES)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(changes) - set(KNOBS))
    if unknown:
        raise ConfigError(f"unknown budget knob(s) {', '.join(unknown)}; known: {', '.join(KNOBS)}")
    return replace(base, **changes) if changes else base
