"""The composition function: the running system built from settings, for the CLI, the API and the workers.

`SleuthSystem` holds what is expensive to load, once per process: the LLM backend, the embedder and the
opened indexes (by resolved path). `ask` answers one question with one method at one budget; `search`
runs one search mode. Both are safe to call from several threads: the backend serialises or batches
its own calls, and the indexes are read-only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kg.graph_search import GraphIndex, GraphSearcher, graph_index_with_ner
from reasoning.budget import Budget, resolve_budget
from reasoning.context import CancelledError, MethodContext
from reasoning.llm.accounting import MeteredBackend, UsageLedger
from reasoning.llm.factory import DEFAULT_BACKEND, make_backend
from reasoning.llm.model_files import default_model_cache
from reasoning.llm.protocol import LLMBackend
from reasoning.methods import METHODS, run_method
from reasoning.resources import IndexResources
from reasoning.result import AskResult
from reasoning.trace import Trace, TraceListener
from retrieval.bundle import IndexBundle
from retrieval.embedders import Embedder, SentenceTransformerEmbedder
from retrieval.errors import ConfigError
from retrieval.searcher import Searcher, SearchResult


@dataclass(frozen=True)
class SystemConfig:
    llm: str = DEFAULT_BACKEND  # a backend spec, see reasoning.llm.factory
    llm_options: Mapping[str, Any] = field(default_factory=dict)  # backend constructor options (n_ctx, ...)
    model_cache: Path | None = None  # where joined model files live (default ~/.cache/sleuth/models)
    max_question_chars: int = 1000
    seed: int = 0
    # a trained critic (`sleuth critic train`); when one is there (default: the one shipped in
    # reasoning/critics/default, if any) it replaces the feature critic of a budget that did not name a critic
    critic_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.max_question_chars < 1:
            raise ConfigError(f"max_question_chars must be positive, got {self.max_question_chars}")


__all__ = ["CancelledError", "IndexResources", "SleuthSystem", "SystemConfig"]


class SleuthSystem:
    def __init__(
        self,
        config: SystemConfig | None = None,
        *,
        backend: LLMBackend | None = None,
        embedder: Embedder | None = None,
        embedder_factory: Callable[[str], Embedder] = SentenceTransformerEmbedder,
        graph_loader: Callable[[IndexBundle], GraphIndex] = graph_index_with_ner,
    ) -> None:
        self.config = config or SystemConfig()
        self.ledger = UsageLedger()
        self._backend = MeteredBackend(backend, self.ledger) if backend is not None else None
        self._embedder = embedder
        self._embedder_factory = embedder_factory
        self._graph_loader = graph_loader
        self._indexes: dict[Path, IndexResources] = {}
        self._lock = threading.Lock()

    @property
    def backend(self) -> MeteredBackend:
        """The metered LLM backend, loaded on first use."""
        with self._lock:
            if self._backend is None:
                cache = self.config.model_cache or default_model_cache()
                raw = make_backend(self.config.llm, cache_dir=cache, **dict(self.config.llm_options))
                self._backend = MeteredBackend(raw, self.ledger)
            return self._backend

    def index(self, directory: Path | str) -> IndexResources:
        """The opened index at `directory` (opened once, then shared)."""
        key = Path(directory).expanduser().resolve()
        with self._lock:
            if key not in self._indexes:
                bundle = IndexBundle.open(key)
                embedder = self._embedder
                if embedder is None or embedder.name != bundle.manifest.embedder_name:
                    embedder = self._embedder_factory(bundle.manifest.embedder_name)
                    self._embedder = embedder
                searcher = Searcher(bundle, embedder=embedder)
                built = bool((bundle.manifest.data.get("graph") or {}).get("built"))
                self._indexes[key] = IndexResources(
                    bundle, searcher, GraphSearcher(searcher, graph_loader=self._graph_loader) if built else None
                )
            return self._indexes[key]

    def forget_index(self, directory: Path | str) -> None:
        """Drop an opened index (after it was rebuilt or deleted), so the next use opens it again."""
        with self._lock:
            self._indexes.pop(Path(directory).expanduser().resolve(), None)

    def search(self, query: str, index: Path | str, mode: str = "hybrid", k: int = 10) -> SearchResult:
        resources = self.index(index)
        if resources.graph is not None:
            return resources.graph.search(query, mode, k)
        return resources.searcher.search(query, mode, k)

    def ask(
        self,
        question: str,
        index: Path | str,
        *,
        method: str = "sleuth",
        budget: str | Budget = "fast",
        overrides: Mapping[str, Any] | None = None,
        listener: TraceListener | None = None,
        cancel: threading.Event | None = None,
    ) -> AskResult:
        """Answer one question. Raises ConfigError for a bad question, method or budget."""
        question = self.check_question(question)
        if method not in METHODS:
            raise ConfigError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
        chosen = resolve_budget(budget, **dict(overrides or {}))
        if method == "sleuth":  # the iterative baseline stops at its first answer whatever the critic
            chosen = self.with_trained_critic(chosen, overrides)
        trace = Trace(listeners=[listener] if listener else [])
        context = MethodContext(
            question=question,
            resources=self.index(index),
            backend=self.backend,
            budget=chosen,
            trace=trace,
            seed=self.config.seed,
            cancel=cancel,
        )
        return run_method(method, context)

    def with_trained_critic(self, budget: Budget, overrides: Mapping[str, Any] | None = None) -> Budget:
        """The budget with the trained critic in place of the feature critic, when a trained one is present
        and measured better than the feature critic (`replaces_feature_critic`), and the caller did not ask
        for a critic by name."""
        from reasoning.trained_critic import replaces_feature_critic

        if budget.critic == "trained" and budget.critic_dir is None and self.config.critic_dir is not None:
            return replace(budget, critic_dir=str(self.config.critic_dir))
        named = (overrides or {}).get("critic") is not None
        if budget.critic != "feature" or named or not replaces_feature_critic(self.config.critic_dir):
            return budget
        directory = str(self.config.critic_dir) if self.config.critic_dir is not None else budget.critic_dir
        return replace(budget, critic="trained", critic_dir=directory)

    def check_question(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise ConfigError("the question is empty")
        question = " ".join(question.split())
        if len(question) > self.config.max_question_chars:
            raise ConfigError(
                f"the question is {len(question)} characters long; the limit is {self.config.max_question_chars} "
                "(max_question_chars)"
            )
        return question
