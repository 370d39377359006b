"""The opened parts of one index that answering a question uses."""

from __future__ import annotations

from dataclasses import dataclass

from kg.graph_search import GraphSearcher
from retrieval.bundle import IndexBundle
from retrieval.searcher import Searcher


@dataclass
class IndexResources:
    bundle: IndexBundle
    searcher: Searcher
    graph: GraphSearcher | None  # None when the index was built without a knowledge graph
