"""Retrieval for the chains: hybrid search plus the graph around each chain's entities.

Per chain and round, four ranked lists of passage rows: hybrid (BM25 + dense, fused), personalised
PageRank from the chain's anchors and the entities its query names, the passages supporting edges to
the anchors' neighbours (neighbour expansion), and the passages supporting paths between anchors
(multi-hop traversal). They are fused by reciprocal rank into candidates, passages already held are left
out, and each candidate keeps the rank every source gave it (the reranker's graph criterion reads them).
The queries of all chains are searched as one batch.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from kg.exploration import GraphPath
from kg.graph_search import walk_from_query
from kg.linking import LinkedEntity
from reasoning.evidence import Candidate
from reasoning.resources import IndexResources
from reasoning.trace import Trace
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.searcher import RankedRows

RRF_K = 60
NEIGHBOUR_LIMIT = 30
PATHS_PER_PAIR = 3
MAX_ANCHOR_PAIRS = 6


@dataclass(frozen=True)
class ChainQuery:
    chain: int
    query: str
    anchors: tuple[int, ...]  # graph entities the chain is grounded on
    exclude: frozenset[int]  # passage rows the chain already holds
    graph_weight: float = 1.0  # weight of the graph lists in the fusion (a graph-first chain uses more)


class ChainRetriever:
    def __init__(self, resources: IndexResources, trace: Trace, *, use_graph: bool = True) -> None:
        self.resources = resources
        self.trace = trace
        self.use_graph = use_graph and resources.graph is not None
        self.paths: dict[int, dict[str, tuple[int, ...]]] = {}  # chain -> path text -> supporting rows

    def link(self, text: str) -> list[LinkedEntity]:
        if not self.use_graph or self.resources.graph is None:
            return []
        return self.resources.graph.graph_index.linker.link(text)

    def candidates(self, queries: Sequence[ChainQuery], depth: int, round_no: int) -> list[list[Candidate]]:
        """Up to `depth` candidates per query, best fused rank first."""
        with self.trace.stage("retrieve"):
            hybrid = self.resources.searcher.search_rows([q.query for q in queries], "hybrid", depth * 2)
            found = []
            for query, hybrid_rows in zip(queries, hybrid, strict=True):
                lists = {"hybrid": hybrid_rows}
                if self.use_graph:
                    lists.update(self._graph_lists(query, depth * 2))
                found.append(self._fuse(query, lists, depth))
                self.trace.record(
                    "retrieve",
                    chain=query.chain,
                    round=round_no,
                    query=query.query,
                    anchors=list(query.anchors),
                    graph_weight=query.graph_weight,
                    sizes={name: len(rows) for name, rows in lists.items()},
                    hits=[
                        {
                            "passage_id": c.passage.id,
                            "title": c.passage.title,
                            "fused": float(f"{c.fused:.5f}"),
                            "ranks": c.ranks,
                        }
                        for c in found[-1]
                    ],
                )
        return found

    def _graph_lists(self, query: ChainQuery, depth: int) -> dict[str, RankedRows]:
        assert self.resources.graph is not None
        index = self.resources.graph.graph_index
        walk = walk_from_query(index, query.query, depth, anchors=query.anchors)
        if not walk.seeds:
            return {}
        explorer = index.explorer
        anchors = list(walk.seeds)[:8]  # the chain's own anchors first, then what its query names
        neighbours: dict[int, float] = {}
        for n in explorer.neighbours(anchors, hops=1, limit=NEIGHBOUR_LIMIT):
            if n.support:
                neighbours.setdefault(n.support[-1], n.weight * explorer.specificity(n.entity))
        paths: dict[int, float] = {}
        for a, b in itertools.islice(itertools.combinations(anchors, 2), MAX_ANCHOR_PAIRS):
            for path in explorer.paths(a, b, n=PATHS_PER_PAIR, max_length=3):
                self.paths.setdefault(query.chain, {})[self._describe(path)] = path.support
                for row in path.support:
                    paths[row] = max(paths.get(row, 0.0), 1.0 / path.length)
        return {"ppr": walk.rows, "neighbour": _ranked(neighbours), "path": _ranked(paths)}

    def paths_for(self, rows: set[int], chain: int | None = None) -> list[str]:
        """The graph paths a chain (any chain with None) found whose supporting passages include one of `rows`."""
        groups = [self.paths.get(chain, {})] if chain is not None else list(self.paths.values())
        found = {text: None for paths in groups for text, support in paths.items() if rows & set(support)}
        return list(found)

    def _describe(self, path: GraphPath) -> str:
        assert self.resources.graph is not None
        entities = self.resources.graph.graph_index.graph.entities
        parts = [entities[path.entities[0]].name]
        for hop, entity in enumerate(path.entities[1:]):
            label = path.relations[hop] or "/".join(path.edge_types[hop][:1])
            parts.append(f"-[{label}]-> {entities[entity].name}")
        return " ".join(parts)

    def _fuse(self, query: ChainQuery, lists: dict[str, RankedRows], depth: int) -> list[Candidate]:
        names = list(lists)
        weights = [1.0 if name == "hybrid" else query.graph_weight for name in names]
        runs = [[(row, s) for row, s in lists[name] if row not in query.exclude] for name in names]
        fused = reciprocal_rank_fusion(runs, k=RRF_K, weights=weights)[:depth]
        ranks = {
            name: {row: rank for rank, (row, _) in enumerate(run, start=1)}
            for name, run in zip(names, runs, strict=True)
        }
        passages = self.resources.searcher.bundle.store.get_rows([row for row, _ in fused])
        return [
            Candidate(
                row=row,
                passage=passage,
                ranks={name: ranks[name][row] for name in names if row in ranks[name]},
                fused=float(score),
            )
            for (row, score), passage in zip(fused, passages, strict=True)
        ]


def _ranked(scores: dict[int, float]) -> RankedRows:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
