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
# hybrid+graph fuses two independent rankings, hybrid search and the walk from the linked entities, by RRF;
# seeding the walk with hybrid hits as well (HippoRAG 2-style) or taking the walk's ranking alone scored
# lower Recall@5 on all three dev sets of ../shared/data, and were removed
GRAPH_DEPTH = 100  # passages each ranking contributes to the fusion
RRF_K = 60


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
    return GraphIndex(bundle, extractor=_question_ner())


@functools.cache
def _question_ner() -> EntityExtractor:
    """One NER model per process for every index's linker, loaded once: loading it takes a second or more,
    and an index is opened (and reopened after every update) between reading its manifest and its graph
    files, where a second of loading would let another process's update swap the files in between."""
    from kg.ner import SpacyEntityExtractor

    return SpacyEntityExtractor()


@dataclass(frozen=True)
class GraphWalk:
    """A personalised PageRank walk for one query: the entities it linked, the seeds, the ranked rows."""

    linked: list[LinkedEntity]
    seeds: dict[int, float]  # entity -> restart weight: the given anchors first, then the linked entities
    rows: RankedRows


def walk_from_query(index: GraphIndex, query: str, depth: int, anchors: Sequence[int] = ()) -> GraphWalk:
    """PPR seeded by the entities the query names (weighted by their link scores) and by `anchors`
    (weight 1, unless the query links the same entity); the top `depth` passage rows, none without seeds.
    `sleuth search --mode graph` seeds with the query alone, a reasoning chain also with its anchors."""
    linked = index.linker.link(query)
    seeds = {**dict.fromkeys(anchors, 1.0), **seed_weights(linked)}
    ranked = index.explorer.personalized_pagerank(seeds, top_k=depth) if seeds else []
    return GraphWalk(linked, seeds, [(r.row, r.score) for r in ranked])


class GraphSearcher:
    """All five search modes over one bundle; the graph loads on the first graph query."""

    def __init__(self, searcher: Searcher, graph_loader: Callable[[IndexBundle], GraphIndex] = GraphIndex) -> None:
        self.searcher = searcher
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
        depth = max(k, GRAPH_DEPTH)
        hybrid = self.searcher.search_rows(queries, "hybrid", depth) if mode != "graph" else None
        results, self.last_queries = [], []
        for i, query in enumerate(queries):
            walk = walk_from_query(self.graph_index, query, depth)
            reason = None if walk.linked else "no entity of the question is in the graph"
            self.last_queries.append(GraphQuery(walk.linked, reason))
            if hybrid is None:
                results.append(walk.rows[:k])
            else:
                results.append(reciprocal_rank_fusion([hybrid[i], walk.rows], k=RRF_K)[:k])
        return results
