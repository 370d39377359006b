"""The stop policy of a run: which sufficiency critic judges each round, and the rules around its verdicts.
Resolved from the budget here, once per question, and nowhere else.

- `critic`: feature, prompted (the LLM), trained (learnt from self-practice: the budget's `critic_dir`,
  else the system's, else the one shipped in reasoning/critics/default) or none (a fixed number of rounds).
- `answer_every_round`: the reader gives its best answer every round; otherwise only the last round asks for
  an answer come what may.
- `stop_run`: the run answers as soon as one chain is sufficient, instead of each chain stopping on its own.
- `trust_critic`: with verification, an uncontested answer the critic judged sufficient is not re-checked.

Each budget preset states all four (reasoning.budget); a trained critic's files hold its model, never these.
The `start` event of a run's trace records the policy as resolved (`StopPolicy.describe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasoning.budget import Budget
from reasoning.critic import (
    AnswerPresentCritic,
    FeatureCritic,
    FixedRoundsCritic,
    PromptedCritic,
    SufficiencyCritic,
)
from reasoning.structured import JsonCaller
from reasoning.trained_critic import TrainedCritic, load_critic


@dataclass(frozen=True)
class StopPolicy:
    critic: SufficiencyCritic
    answer_every_round: bool = False
    stop_run: bool = False
    trust_critic: bool = False

    @classmethod
    def first_answer(cls) -> StopPolicy:
        """The iterative baseline's rule: a chain stops at its first answer (IRCoT-style)."""
        return cls(AnswerPresentCritic())

    def describe(self) -> dict[str, Any]:
        """The policy as resolved, for the trace: the critic (and a trained one's directory and threshold)
        and the three rules."""
        critic: dict[str, Any] = {"name": self.critic.name}
        if isinstance(self.critic, TrainedCritic):
            critic |= {
                "dir": str(self.critic.directory),
                "threshold": self.critic.threshold,
                "practised_answer_every_round": self.critic.practised_answer_every_round,
            }
        return {
            "critic": critic,
            "answer_every_round": self.answer_every_round,
            "stop_run": self.stop_run,
            "trust_critic": self.trust_critic,
        }


def resolve_stop_policy(budget: Budget, llm: JsonCaller, *, critic_dir: Path | None = None) -> StopPolicy:
    """The budget's stop policy; `critic_dir` is the system's trained critic (None: the shipped one), used
    where the budget names the trained critic without a directory of its own. A missing or corrupt trained
    critic raises `CriticArtifactError`, naming it."""
    return StopPolicy(
        _critic(budget, llm, critic_dir),
        answer_every_round=budget.answer_every_round,
        stop_run=budget.stop_run,
        trust_critic=budget.trust_critic,
    )


def check_stop_policy(budget: Budget, *, critic_dir: Path | None = None) -> None:
    """Fail now, before any model loads, if the budget's stop policy cannot be built: a budget that stops on
    the trained critic loads it here exactly as `resolve_stop_policy` will (CriticArtifactError, naming it)."""
    if budget.critic == "trained":
        load_critic(_trained_dir(budget, critic_dir))


def _trained_dir(budget: Budget, critic_dir: Path | None) -> Path | str | None:
    return budget.critic_dir if budget.critic_dir is not None else critic_dir


def _critic(budget: Budget, llm: JsonCaller, critic_dir: Path | None) -> SufficiencyCritic:
    if budget.critic == "prompted":
        return PromptedCritic(llm)
    if budget.critic == "none":
        return FixedRoundsCritic()
    if budget.critic == "trained":
        return load_critic(_trained_dir(budget, critic_dir))
    return FeatureCritic()
