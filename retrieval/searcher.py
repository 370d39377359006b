"""Search over an index bundle: BM25, dense, and their fusion."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from retrieval.bundle import IndexBundle
from retrieval.documents import Hit
from retrieval.embedder_runtime import EmbedderRuntime, matching_embedder
from retrieval.embedders import Embedder, SentenceTransformerEmbedder
from retrieval.errors import ConfigError, IndexLoadError
from retrieval.fusion import reciprocal_rank_fusion, weighted_score_fusion

SEARCH_MODES: tuple[str, ...] = ("bm25", "dense", "hybrid")
GRAPH_MODE_NAMES: tuple[str, ...] = ("graph", "hybrid+graph")  # kg.graph_search.GRAPH_MODES, which need a graph
RankedRows = list[tuple[int, float]]


@dataclass(frozen=True)
class HybridConfig:
    fusion: Literal["rrf", "weighted"] = "rrf"
    depth: int = 100  # candidates taken from each retriever before fusion
    rrf_k: int = 60
    weights: tuple[float, float] = (1.0, 1.0)  # bm25, dense

    def __post_init__(self) -> None:
        if self.fusion not in ("rrf", "weighted"):
            raise ConfigError(f"unknown fusion {self.fusion!r}: use rrf or weighted")
        if self.depth < 1:
            raise ConfigError(f"hybrid depth must be at least 1, got {self.depth}")


@dataclass(frozen=True)
class SearchResult:
    query: str
    mode: str
    hits: list[Hit]
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {"hits": [h.to_json() for h in self.hits], "seconds": round(self.seconds, 6)}


class Searcher:
    """All search modes over one bundle; the embedder is loaded on the first dense query, on the runtime the
    index's manifest records (a given embedder, or one from `embedder_factory`, is moved onto it)."""

    def __init__(
        self,
        bundle: IndexBundle,
        *,
        embedder: Embedder | None = None,
        embedder_factory: Callable[[str], Embedder] | None = None,
        hybrid: HybridConfig | None = None,
    ) -> None:
        self.bundle = bundle
        self.hybrid = hybrid or HybridConfig()
        self._given_embedder = embedder
        self._embedder_factory = embedder_factory

    @functools.cached_property
    def embedder(self) -> Embedder:
        manifest = self.bundle.manifest
        section = manifest.data["embedder"]
        if self._given_embedder is not None:
            embedder = self._given_embedder
        elif self._embedder_factory is not None:
            embedder = self._embedder_factory(manifest.embedder_name)
        else:
            recorded = EmbedderRuntime.from_manifest(section)
            embedder = SentenceTransformerEmbedder(manifest.embedder_name, runtime=recorded)
        # queries embedded on the runtime the passages were (torch, onnx fp32 or int8)
        embedder = matching_embedder(embedder, section, f"index {self.bundle.directory}")
        if embedder.name != manifest.embedder_name or embedder.dimension != manifest.embedder_dimension:
            raise IndexLoadError(
                f"index {self.bundle.directory} was built with embedder {manifest.embedder_name!r} "
                f"(dimension {manifest.embedder_dimension}), "
                f"not {embedder.name!r} (dimension {embedder.dimension})"
            )
        return embedder

    def search(self, query: str, mode: str = "hybrid", k: int = 10) -> SearchResult:
        start = time.perf_counter()
        hits = self.search_many([query], mode, k)[0]
        return SearchResult(query, mode, hits, time.perf_counter() - start)

    def search_many(self, queries: Sequence[str], mode: str = "hybrid", k: int = 10) -> list[list[Hit]]:
        """Batched search (queries embedded together); one ranked hit list per query."""
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        if any(not q.strip() for q in queries):
            raise ConfigError("the query is empty")
        return [self.hits(rows) for rows in self.search_rows(queries, mode, k)]

    def search_rows(self, queries: Sequence[str], mode: str, k: int) -> list[RankedRows]:
        if mode == "bm25":
            return self.bundle.bm25.search_many(queries, k)
        if mode == "dense":
            return self._dense(queries, k)
        if mode == "hybrid":
            return self._hybrid(queries, k)
        if mode in GRAPH_MODE_NAMES:
            raise ConfigError(self._no_graph(mode))
        raise ConfigError(f"unknown search mode {mode!r}: use one of {', '.join(SEARCH_MODES)}")

    def _no_graph(self, mode: str) -> str:
        """Why a graph mode cannot search this bundle (it was built without its knowledge graph)."""
        section = self.bundle.manifest.data.get("graph") or {}
        reason = section.get("reason") or "it was built without one"
        others = f"{', '.join(SEARCH_MODES[:-1])} or {SEARCH_MODES[-1]}"
        return (
            f"index {self.bundle.directory.name!r} has no knowledge graph, which {mode} search needs ({reason}); "
            f"search it with {others}, or rebuild it with the graph"
        )

    def _dense(self, queries: Sequence[str], k: int) -> list[RankedRows]:
        return self.bundle.dense.search(self.embedder.embed(list(queries)), k)

    def _hybrid(self, queries: Sequence[str], k: int) -> list[RankedRows]:
        depth = max(k, self.hybrid.depth)
        lexical = self.bundle.bm25.search_many(queries, depth)
        dense = self._dense(queries, depth)
        fused = []
        for runs in zip(lexical, dense, strict=True):
            if self.hybrid.fusion == "rrf":
                ranked = reciprocal_rank_fusion(runs, k=self.hybrid.rrf_k, weights=self.hybrid.weights)
            else:
                ranked = weighted_score_fusion(runs, weights=self.hybrid.weights)
            fused.append(ranked[:k])
        return fused

    def hits(self, ranked: RankedRows) -> list[Hit]:
        passages = self.bundle.store.get_rows([row for row, _ in ranked])
        return [
            Hit(passage=p, score=float(score), rank=rank)
            for rank, (p, (_, score)) in enumerate(zip(passages, ranked, strict=True), start=1)
        ]
