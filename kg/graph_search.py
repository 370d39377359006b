"""Graph retrieval over an index bundle: personalised PageRank from the question's entities, alone
(`graph`, HippoRAG-style single-step retrieval) or fused with hybrid search (`hybrid+graph`)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kg.exploration import ExplorationConfig, GraphExplorer
from kg.graph import GRAPH_DIR, KnowledgeGraph
from kg.linking import EntityLinker, LinkedEntity, seed_weights
from kg.name_vectors import NameIndex, make_vectorizer
from kg.ner import EntityExtractor
from retrieval.bundle import IndexBundle
from retrieval.documents import Hit
from retrieval.errors import ConfigError, IndexLoadError
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.searcher import SEARCH_MODES, RankedRows, Searcher, SearchResult

GRAPH_MODES = ("graph", "hybrid+graph")
ALL_MODES = SEARCH_MODES + GRAPH_MODES


@dataclass(frozen=True)
class GraphSearchConfig:
    """hybrid+graph fuses two independent rankings, hybrid search and the walk from the linked entities,
    with RRF. Seeding the walk with hybrid hits as well (`passage_seeds` > 0, HippoRAG 2-style) and taking
    the walk's ranking alone (`fuse=False`) are options; on the dev sets of ../shared/data the plain
    fusion had the best Recall@5 on all three (see the README)."""

    passage_seeds: int = 0  # hybrid hits that also seed the walk
    passage_seed_weight: float = 0.05  # their total restart weight; the linked entities weigh 1 together
    depth: int = 100
    rrf_k: int = 60
    fuse: bool = True  # fuse the walk's ranking with the hybrid one (RRF), or take the walk's alone

    def __post_init__(self) -> None:
        if self.passage_seeds < 0 or self.passage_seed_weight < 0 or self.depth < 1:
            raise ConfigError(f"bad graph search settings: {self}")


@dataclass(frozen=True)
class GraphQuery:
    """What graph retrieval did for one query: the entities it linked, or why it found nothing."""

    linked: list[LinkedEntity] = field(default_factory=list)
    reason: str | None = None


class GraphIndex:
    """The graph part of a bundle, loaded once: the graph, its name index, an explorer and a linker."""

    def __init__(
        self,
        bundle: IndexBundle,
        extractor: EntityExtractor | None = None,
        exploration: ExplorationConfig | None = None,
    ) -> None:
        section = bundle.manifest.data.get("graph") or {}
        if not section.get("built"):
            raise IndexLoadError(
                f"index {bundle.directory} has no knowledge graph ({section.get('reason', 'not built')}): "
                "rebuild it without --no-kg to use graph search"
            )
        directory = bundle.directory / GRAPH_DIR
        self.graph = KnowledgeGraph.load(directory)
        if self.graph.num_passages != bundle.manifest.passage_count:
            raise IndexLoadError(
                f"index {bundle.directory}: the graph covers {self.graph.num_passages} passages, "
                f"the manifest says {bundle.manifest.passage_count}"
            )
        kind = str(section.get("synonyms", {}).get("vectors", "surface"))
        embedder = None
        if kind == "embedder":
            embedder = Searcher(bundle).embedder
        names = NameIndex.load(directory, make_vectorizer(kind, embedder))
        self.explorer = GraphExplorer(self.graph, exploration or ExplorationConfig())
        self.linker = EntityLinker(self.graph, names, extractor)


def graph_index_with_ner(bundle: IndexBundle) -> GraphIndex:
    """The graph of a bundle, with spaCy NER for linking question mentions by name similarity."""
    from kg.ner import SpacyEntityExtractor

    return GraphIndex(bundle, extractor=SpacyEntityExtractor())


class GraphSearcher:
    """All five search modes over one bundle; the graph loads on the first graph query."""

    def __init__(
        self,
        searcher: Searcher,
        graph_loader: Callable[[IndexBundle], GraphIndex] = GraphIndex,
        config: GraphSearchConfig | None = None,
    ) -> None:
        self.searcher = searcher
        self.config = config or GraphSearchConfig()
        self._graph_loader = graph_loader
        self.last_queries: list[GraphQuery] = []

    @functools.cached_property
    def graph_index(self) -> GraphIndex:
        return self._graph_loader(self.searcher.bundle)

    def search(self, query: str, mode: str = "hybrid", k: int = 10) -> SearchResult:
        start = time.perf_counter()
        rows = self.search_rows([query], mode, k)[0]
        hits = self.searcher.hits(rows)
        return SearchResult(query, mode, hits, time.perf_counter() - start)

    def search_many(self, queries: Sequence[str], mode: str = "hybrid", k: int = 10) -> list[list[Hit]]:
        return [self.searcher.hits(rows) for rows in self.search_rows(queries, mode, k)]

    def search_rows(self, queries: Sequence[str], mode: str, k: int) -> list[RankedRows]:
        if mode in SEARCH_MODES:
            self.last_queries = []
            return self.searcher.search_rows(queries, mode, k)
        if mode not in GRAPH_MODES:
            raise ConfigError(f"unknown search mode {mode!r}: use one of {', '.join(ALL_MODES)}")
        if any(not q.strip() for q in queries):
            raise ConfigError("the query is empty")
        hybrid = self.searcher.search_rows(queries, "hybrid", max(k, self.config.depth)) if mode != "graph" else None
        results, self.last_queries = [], []
        for i, query in enumerate(queries):
            seeds = hybrid[i] if hybrid is not None else []
            graph_rows, info = self._graph_rows(query, seeds, max(k, self.config.depth))
            self.last_queries.append(info)
            if hybrid is None or not self.config.fuse:
                results.append(graph_rows[:k])
            else:
                fused = reciprocal_rank_fusion([hybrid[i], graph_rows], k=self.config.rrf_k)
                results.append(fused[:k])
        return results

    def _graph_rows(self, query: str, hybrid_rows: RankedRows, depth: int) -> tuple[RankedRows, GraphQuery]:
        index = self.graph_index
        linked = index.linker.link(query)
        passage_seeds = self._passage_seeds(hybrid_rows)
        if not linked and not passage_seeds:
            return [], GraphQuery([], "no entity of the question is in the graph")
        ranked = index.explorer.personalized_pagerank(seed_weights(linked), passage_seeds, top_k=depth)
        reason = None if linked else "no entity of the question is in the graph; walked from search hits only"
        return [(r.row, r.score) for r in ranked], GraphQuery(linked, reason)

    def _passage_seeds(self, hybrid_rows: RankedRows) -> dict[int, float]:
        top = hybrid_rows[: self.config.passage_seeds]
        if not top:
            return {}
        total = sum(1.0 / rank for rank in range(1, len(top) + 1))
        return {row: self.config.passage_seed_weight / (rank * total) for rank, (row, _) in enumerate(top, start=1)}
