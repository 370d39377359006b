"""What one worker (or the embedded API) process holds for its whole life: the models and opened indexes.

`WorkerRuntime` holds the system that the composition function (`reasoning.system.build_system`) builds
from the workers' `system` settings, as the CLI builds it, and adds what the service needs: the index
registry and upload area, the embedder of builds (the system's own, one per model name), the NER
extractor, and a freshness check that reopens an index another process replaced.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.bundle import MANIFEST
from retrieval.embedders import Embedder
from workers.config import WorkerConfig
from workers.indexes import IndexRegistry
from workers.leases import process_name
from workers.uploads import UploadArea

if TYPE_CHECKING:
    from kg.graph_stage import KnowledgeGraphStage
    from kg.ner import EntityExtractor
    from reasoning.llm.protocol import LLMBackend
    from reasoning.system import SleuthSystem

log = logging.getLogger(__name__)

EmbedderFactory = Callable[[str], Embedder]
ExtractorFactory = Callable[[], "EntityExtractor"]


class WorkerRuntime:
    def __init__(
        self,
        config: WorkerConfig,
        *,
        backend: LLMBackend | None = None,
        embedder_factory: EmbedderFactory | None = None,
        extractor_factory: ExtractorFactory | None = None,
    ) -> None:
        self.config = config
        self.registry = IndexRegistry(config.index_root)
        self.uploads = UploadArea(config.data_root)
        self.name = process_name()
        self._backend = backend
        self._embedder_factory = embedder_factory
        self._extractor_factory = extractor_factory
        self._extractor: EntityExtractor | None = None
        self._system: SleuthSystem | None = None
        self._seen: dict[Path, tuple[int, int]] = {}
        self._lock = threading.RLock()
        self.models_loaded = False

    @property
    def system(self) -> SleuthSystem:
        """The system, built on first use from the `system` settings (the LLM loads on its first call)."""
        with self._lock:
            if self._system is None:
                from reasoning.system import build_system

                self._system = build_system(
                    self.config.system, backend=self._backend, embedder_factory=self._embedder_factory
                )
            return self._system

    def embedder(self, name: str | None = None) -> Embedder:
        """The embedder of that model name (default: the one new builds use), loaded once by the system."""
        return self.system.embedder(name or self.config.embedder)

    def extractor(self) -> EntityExtractor:
        with self._lock:
            if self._extractor is None:
                if self._extractor_factory is not None:
                    self._extractor = self._extractor_factory()
                else:
                    from kg.ner import SpacyEntityExtractor

                    self._extractor = SpacyEntityExtractor()
            return self._extractor

    def extractor_info(self) -> dict[str, Any]:
        describe = getattr(self.extractor(), "describe", None)
        return dict(describe()) if callable(describe) else {"extractor": type(self.extractor()).__name__}

    def graph_stage(self, embedder: Embedder | None, synonyms: str = "surface") -> KnowledgeGraphStage:
        """The graph stage of a build, as `sleuth index build` runs it (spaCy NER unless injected)."""
        from kg.graph_stage import GraphBuildConfig, KnowledgeGraphStage
        from kg.name_vectors import SynonymConfig

        config = GraphBuildConfig(synonyms=SynonymConfig(vectors=synonyms))
        return KnowledgeGraphStage(
            self.extractor(), config, embedder=embedder, describe_extractor=self.extractor_info()
        )

    def index_dir(self, name: str) -> Path:
        """The directory of an index, reopened in the system when another process replaced it."""
        directory = self.registry.directory(name)
        try:
            stat = (directory / MANIFEST).stat()
            stamp = (stat.st_ino, stat.st_mtime_ns)
        except FileNotFoundError:
            stamp = (0, 0)
        with self._lock:
            if self._seen.get(directory) != stamp:
                if directory in self._seen and self._system is not None:
                    self._system.forget_index(directory)
                self._seen[directory] = stamp
        return directory

    def forget_index(self, name: str) -> None:
        directory = self.registry.directory(name)
        with self._lock:
            self._seen.pop(directory, None)
            if self._system is not None:
                self._system.forget_index(directory)

    def warm_up(self, *, llm: bool = True) -> None:
        """Load the models now (the embedder, and the LLM unless `llm` is False) instead of on first use."""
        self.embedder()
        if llm:
            _ = self.system.backend
        self.models_loaded = True
        log.info("worker %s: models loaded", self.name)
