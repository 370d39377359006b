"""The composition function: `build_system(settings)` builds the running system, the same way for the CLI,
the API, the workers, evaluation, practice and the benchmarks.

`SleuthSystem` holds what is expensive to load, once per process: the LLM backend, the embedder and the
opened indexes (by resolved path). `ask` answers one question with one method at one budget; `search`
runs one search mode. Both are safe to call from several threads: the backend serialises or batches
its own calls, and the indexes are read-only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kg.graph_search import GraphIndex, GraphSearcher, graph_index_with_ner
from reasoning.budget import DEFAULT_BUDGET, Budget, resolve_budget
from reasoning.context import CancelledError, MethodContext
from reasoning.llm.accounting import SpendingLedger
from reasoning.llm.factory import make_backend
from reasoning.llm.model_files import default_model_cache
from reasoning.llm.protocol import LLMBackend
from reasoning.methods import BUDGET_STOP_POLICY, METHODS, run_method
from reasoning.resources import IndexResources
from reasoning.result import AskResult
from reasoning.settings import SystemSettings
from reasoning.stop_policy import StopPolicy, check_stop_policy, resolve_stop_policy
from reasoning.structured import JsonCaller
from reasoning.trace import Trace, TraceListener
from retrieval.bundle import IndexBundle
from retrieval.embedders import Embedder, SentenceTransformerEmbedder
from retrieval.errors import ConfigError, IndexLoadError
from retrieval.searcher import Searcher, SearchResult

EmbedderFactory = Callable[[str], Embedder]
OPEN_ATTEMPTS = 3


__all__ = ["CancelledError", "IndexResources", "SleuthSystem", "build_system"]


def build_system(
    settings: SystemSettings | None = None,
    *,
    backend: LLMBackend | None = None,
    embedder_factory: EmbedderFactory | None = None,
    graph_loader: Callable[[IndexBundle], GraphIndex] = graph_index_with_ner,
) -> SleuthSystem:
    """The system from its settings (default: `SystemSettings()`, the CPU model). The LLM backend loads on
    first use unless one is given; embedders are made per index (its manifest names the model) by
    `embedder_factory` (default: sentence-transformers on the settings' device and embedder backend; an
    index's queries run on the runtime its manifest records). Tests pass fakes here."""
    settings = settings or SystemSettings()
    if embedder_factory is None:
        device, embedder_backend = settings.device, settings.embedder_backend

        def embedder_factory(name: str) -> Embedder:
            return SentenceTransformerEmbedder(name, device=device, backend=embedder_backend)

    return SleuthSystem(settings, backend, embedder_factory, graph_loader)


class SleuthSystem:
    """Built by `build_system`; see the module docstring."""

    def __init__(
        self,
        settings: SystemSettings,
        backend: LLMBackend | None,
        embedder_factory: EmbedderFactory,
        graph_loader: Callable[[IndexBundle], GraphIndex],
    ) -> None:
        self.settings = settings
        self._backend = backend
        self._embedders: dict[str, Embedder] = {}
        self._embedder_factory = embedder_factory
        self._graph_loader = graph_loader
        self._indexes: dict[Path, IndexResources] = {}
        self._lock = threading.RLock()

    @property
    def backend(self) -> LLMBackend:
        """The LLM backend, loaded on first use."""
        with self._lock:
            if self._backend is None:
                cache = self.settings.model_cache or default_model_cache()
                self._backend = make_backend(self.settings.llm, cache_dir=cache, **dict(self.settings.llm_options))
            return self._backend

    def embedder(self, name: str) -> Embedder:
        """The embedder of that model name, loaded once (index builds and searches share it)."""
        with self._lock:
            if name not in self._embedders:
                self._embedders[name] = self._embedder_factory(name)
            return self._embedders[name]

    def index(self, directory: Path | str) -> IndexResources:
        """The opened index at `directory` (opened once, then shared)."""
        key = Path(directory).expanduser().resolve()
        with self._lock:
            if key not in self._indexes:
                self._indexes[key] = self._open_index(key)
            return self._indexes[key]

    def _open_index(self, directory: Path) -> IndexResources:
        """The bundle at `directory`, every part of it and its graph loaded together from one version of its
        files (an open file or mapping stays valid after the directory is swapped away). An
        update by another process swaps the whole directory in one step, but an open that reads the manifest
        before the swap and a file after it sees the two disagree: that is tried again (twice, 0.2 s apart)
        before the index is said to be unreadable."""
        for attempt in range(OPEN_ATTEMPTS):
            try:
                bundle = IndexBundle.open(directory)
                _ = (bundle.store, bundle.bm25, bundle.dense)  # each part now, from this version's files
                searcher = Searcher(bundle, embedder=self.embedder(bundle.manifest.embedder_name))
                graph = None
                if (bundle.manifest.data.get("graph") or {}).get("built"):
                    graph = GraphSearcher(searcher, graph_loader=self._graph_loader)
                    _ = graph.graph_index  # now, not at the first graph query, when the files may be newer
                return IndexResources(bundle, searcher, graph)
            except IndexLoadError:
                if attempt == OPEN_ATTEMPTS - 1:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable: the last attempt returns or raises")

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
        budget: str | Budget = DEFAULT_BUDGET,
        overrides: Mapping[str, Any] | None = None,
        listener: TraceListener | None = None,
        cancel: threading.Event | None = None,
        seed: int | None = None,
    ) -> AskResult:
        """Answer one question. Raises ConfigError for a bad question, method or budget, and
        CriticArtifactError for a trained critic that is missing or corrupt. `seed` (default: the settings')
        seeds this question's LLM calls."""
        question = self.check_question(question)
        if method not in METHODS:
            raise ConfigError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
        chosen = resolve_budget(budget, **dict(overrides or {}))
        uses_budget_policy = method in BUDGET_STOP_POLICY
        if uses_budget_policy:  # a missing trained critic fails before the backend loads
            check_stop_policy(chosen, critic_dir=self.settings.critic_dir)
        llm = JsonCaller(
            backend=self.backend,
            spending=SpendingLedger(chosen.max_llm_calls, chosen.max_tokens),
            trace=Trace(listeners=[listener] if listener else []),
            seed=self.settings.seed if seed is None else seed,
            cancel=cancel,
        )
        # resolved here, once: the budget's for Sleuth, the first answer for the baselines
        stop = self.stop_policy(chosen, llm) if uses_budget_policy else StopPolicy.first_answer()
        context = MethodContext(question, self.index(index), chosen, llm, stop)
        return run_method(method, context)

    def stop_policy(self, budget: Budget, llm: JsonCaller) -> StopPolicy:
        """The budget's stop policy, with this system's trained critic (`reasoning.stop_policy`)."""
        return resolve_stop_policy(budget, llm, critic_dir=self.settings.critic_dir)

    def check_question(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise ConfigError("the question is empty")
        question = " ".join(question.split())
        if len(question) > self.settings.max_question_chars:
            raise ConfigError(
                f"the question is {len(question)} characters long; the limit is {self.settings.max_question_chars} "
                "(max_question_chars)"
            )
        return question
