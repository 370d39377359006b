"""Graph exploration for the reasoning loop: neighbours, paths and personalised PageRank.

Every result carries the passage rows that support it. Conventions:

* Specificity (hub down-weighting) of an entity with document frequency df among P passages is
  ``(log(1 + P/df) / log(1 + P)) ** specificity_exponent``, times ``hub_label_factor`` when its label is
  in ``hub_labels``: 1.0 for an entity in one passage, lower for entities in many. It lies in (0, 1].
* ``damping`` is the probability that the walk follows an edge (networkx's ``alpha``, igraph's
  ``damping``; HippoRAG uses 0.5); the walk restarts at the seeds with probability ``1 - damping``.
* The walk runs on one row-stochastic matrix over E + P nodes (entities first, then passage rows),
  built once: mention edges entity <-> passage (weight 1 per mentioning passage) and entity-entity
  edges in both directions (weight x ``entity_edge_weight``, synonyms also x ``synonym_weight``).
  A transition into an entity is scaled by its specificity, and only a specificity share of the mass
  at an entity walks on: the rest, like the mass at nodes without edges, restarts at the seeds.
* Path and neighbour weight is the product of the edge weights on the way (an edge's weight is the
  summed weight of the parallel edges between its two entities, as in ``KnowledgeGraph.nx``).
* Hubs (specificity below ``hub_expand_min``) can be reached but are never walked through by
  ``neighbours`` or ``paths``; the seeds and endpoints themselves are always allowed.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from kg.graph import EDGE_TYPES, SYNONYM, KnowledgeGraph
from retrieval.errors import ConfigError

logger = logging.getLogger(__name__)

_HOP_TYPE_PRIORITY = ("relation", "synonym", "cooccurrence")
INVERSE = "^-1"  # suffix of a relation label walked against its direction


@dataclass(frozen=True)
class ExplorationConfig:
    damping: float = 0.5  # probability of following an edge; restart probability is 1 - damping
    iterations: int = 50  # max power iterations
    tolerance: float = 1e-6  # L1 change between iterations that counts as converged
    hub_labels: frozenset[str] = frozenset({"DATE", "TIME", "GPE", "NORP", "LANGUAGE"})
    hub_label_factor: float = 0.5  # extra specificity factor of entities with those labels
    synonym_weight: float = 1.0  # multiplier of synonym edges in the walk
    entity_edge_weight: float = 1.0  # multiplier of entity-entity edges against mention edges (weight 1)
    max_path_length: int = 4  # edges
    hub_expand_min: float = 0.2  # entities less specific than this are not walked through
    specificity_exponent: float = 1.0  # 0 turns document-frequency down-weighting off
    max_path_candidates: int = 2000  # simple paths enumerated at most per paths() call

    def __post_init__(self) -> None:
        rules = [
            ("damping", self.damping, 0.0 <= self.damping < 1.0, "in [0, 1)"),
            ("iterations", self.iterations, self.iterations >= 1, ">= 1"),
            ("tolerance", self.tolerance, self.tolerance > 0.0, "> 0"),
            ("hub_label_factor", self.hub_label_factor, 0.0 < self.hub_label_factor <= 1.0, "in (0, 1]"),
            ("synonym_weight", self.synonym_weight, self.synonym_weight >= 0.0, ">= 0"),
            ("entity_edge_weight", self.entity_edge_weight, self.entity_edge_weight >= 0.0, ">= 0"),
            ("max_path_length", self.max_path_length, self.max_path_length >= 1, ">= 1"),
            ("hub_expand_min", self.hub_expand_min, 0.0 <= self.hub_expand_min <= 1.0, "in [0, 1]"),
            ("specificity_exponent", self.specificity_exponent, self.specificity_exponent >= 0.0, ">= 0"),
            ("max_path_candidates", self.max_path_candidates, self.max_path_candidates >= 1, ">= 1"),
        ]
        for name, value, ok, rule in rules:
            if not ok or not math.isfinite(value):
                raise ConfigError(f"exploration {name} must be {rule} and finite, got {value!r}")


@dataclass(frozen=True)
class Neighbour:
    entity: int
    hops: int
    via: tuple[int, ...]  # the entity path from the seed (first) to this entity (last)
    edge_types: tuple[str, ...]  # one per hop: relation, else synonym, else cooccurrence
    weight: float  # product of the edge weights on the way
    support: tuple[int, ...]  # passage rows supporting the edges, in path order, each once


@dataclass(frozen=True)
class GraphPath:
    entities: tuple[int, ...]
    edge_types: tuple[tuple[str, ...], ...]  # per hop, every type of edge between the two entities
    relations: tuple[str, ...]  # per hop: "; "-joined relation labels ("" if none), "label^-1" if reversed
    length: int  # edges
    weight: float  # product of the edge weights
    support: tuple[int, ...]  # passage rows supporting the edges, in path order, each once


@dataclass(frozen=True)
class RankedPassage:
    row: int
    score: float  # stationary probability of the passage node


class GraphExplorer:
    """Neighbours, paths and personalised PageRank over one knowledge graph."""

    def __init__(self, graph: KnowledgeGraph, config: ExplorationConfig | None = None) -> None:
        start = time.perf_counter()
        self.graph = graph
        self.config = config or ExplorationConfig()
        self._specificity = _specificities(graph, self.config)
        self._transposed = _transitions(graph, self._specificity, self.config)
        logger.debug(
            "walk matrix over %d nodes, %d transitions, built in %.2fs",
            self._transposed.shape[0],
            self._transposed.nnz,
            time.perf_counter() - start,
        )

    def specificity(self, entity: int) -> float:
        """In (0, 1]: 1 for an entity in one passage, lower for common entities and hub labels."""
        self._check_entity(entity)
        return float(self._specificity[entity])

    def neighbours(self, entities: Sequence[int], hops: int = 1, limit: int = 50) -> list[Neighbour]:
        """Entities within `hops` edges of any seed, each once by its best path (fewest hops, then
        highest weight), ranked by (hops, -weight x specificity, entity); seeds excluded."""
        if hops < 1 or limit < 0:
            raise ValueError(f"neighbours needs hops >= 1 and limit >= 0, got hops={hops}, limit={limit}")
        seeds = sorted({self._check_entity(e) for e in entities})
        frontier = {s: _Trail((s,), (), 1.0, ()) for s in seeds}
        visited: set[int] = set(seeds)
        found: dict[int, _Trail] = {}
        for _ in range(hops):
            layer = self._expand(frontier, visited)
            found.update(layer)
            visited.update(layer)
            frontier = {e: t for e, t in layer.items() if not self._is_hub(e)}
        spec = self._specificity
        ranked = sorted(found.items(), key=lambda item: (len(item[1].via), -item[1].weight * spec[item[0]], item[0]))
        return [trail.neighbour(entity) for entity, trail in ranked[:limit]]

    def paths(self, source: int, target: int, n: int = 5, max_length: int | None = None) -> list[GraphPath]:
        """The top `n` simple paths from source to target by (length, -weight, entities), none through
        a hub and none longer than `max_length` edges; [] when there is none."""
        limit = self.config.max_path_length if max_length is None else max_length
        if limit < 1 or n < 0:
            raise ValueError(f"paths needs max_length >= 1 and n >= 0, got max_length={limit}, n={n}")
        self._check_entity(source)
        self._check_entity(target)
        distance = self._distances_to(target, limit)
        if source == target or n == 0 or source not in distance:
            return []
        found: list[tuple[int, ...]] = []
        budget = self.config.max_path_candidates
        for length in range(distance[source], limit + 1):
            self._enumerate([source], target, length, distance, found, budget)
            if len(found) >= min(n, budget):
                break
        if len(found) >= budget:
            logger.debug("path search %d -> %d stopped at %d candidates", source, target, budget)
        ranked = sorted((self._graph_path(p) for p in found), key=lambda p: (p.length, -p.weight, p.entities))
        return ranked[:n]

    def personalized_pagerank(
        self,
        entity_seeds: Mapping[int, float],
        passage_seeds: Mapping[int, float] | None = None,
        top_k: int = 10,
    ) -> list[RankedPassage]:
        """The top passages by stationary probability of a walk restarting at the seeds.

        Entity seed weights are multiplied by specificity and normalised to sum 1; passage seed weights
        are added on that scale (a passage seed total w takes w / (1 + w) of the restart mass, all of it
        without entity seeds). Ties go to the lower row; passages with probability 0 are left out."""
        restart = self._restart_vector(entity_seeds, passage_seeds or {})
        if restart is None or top_k <= 0:
            return []
        scores = self._walk(restart)[self.graph.num_entities :]
        return [RankedPassage(int(row), float(scores[row])) for row in _top(scores, top_k)]

    def _walk(self, restart: np.ndarray) -> np.ndarray:
        damping, x = self.config.damping, restart
        for iteration in range(1, self.config.iterations + 1):
            new = self._transposed @ x
            # what did not move on (hubs' leftover, dangling nodes) restarts at the seeds, as does
            # 1 - damping; plain sums, not a BLAS dot product, which is slow under thread contention
            stay = damping * (float(x.sum()) - float(new.sum())) + 1.0 - damping
            new *= damping
            new += stay * restart
            change = float(np.abs(new - x).sum())
            x = new
            if change < self.config.tolerance:
                logger.debug("pagerank converged after %d iterations", iteration)
                return x
        logger.debug("pagerank stopped after %d iterations, L1 change %.2g", self.config.iterations, change)
        return x

    def _restart_vector(
        self, entity_seeds: Mapping[int, float], passage_seeds: Mapping[int, float]
    ) -> np.ndarray | None:
        num_entities = self.graph.num_entities
        vector = np.zeros(num_entities + self.graph.num_passages)
        for entity, weight in entity_seeds.items():
            vector[self._check_entity(entity)] += _check_weight(weight) * self._specificity[entity]
        total = vector.sum()
        if total > 0:
            vector /= total
        for row, weight in passage_seeds.items():
            if not 0 <= row < self.graph.num_passages:
                raise ValueError(f"passage row {row} is not in the graph ({self.graph.num_passages} passages)")
            vector[num_entities + row] += _check_weight(weight)
        total = vector.sum()
        return vector / total if total > 0 else None

    def _expand(self, frontier: dict[int, _Trail], visited: set[int]) -> dict[int, _Trail]:
        adjacency = self.graph.nx.adj
        layer: dict[int, _Trail] = {}
        for node in sorted(frontier):
            trail = frontier[node]
            for other, data in adjacency[node].items():
                if other in visited:
                    continue
                best = layer.get(other)
                if best is None or trail.weight * data["weight"] > best.weight:
                    layer[other] = trail.extend(other, data)
        return layer

    def _distances_to(self, target: int, limit: int) -> dict[int, int]:
        """Hop distances to target over paths whose inner entities are not hubs, up to `limit`."""
        adjacency, distance = self.graph.nx.adj, {target: 0}
        frontier = [target]
        for depth in range(1, limit + 1):
            following = []
            for node in frontier:
                for other in adjacency[node]:
                    if other not in distance:
                        distance[other] = depth
                        if not self._is_hub(other):
                            following.append(other)
            frontier = following
        return distance

    def _enumerate(
        self,
        path: list[int],
        target: int,
        remaining: int,
        distance: dict[int, int],
        found: list[tuple[int, ...]],
        budget: int,
    ) -> None:
        """Appends the simple paths of exactly `remaining` more edges to target, heavier edges first."""
        adjacency = self.graph.nx.adj[path[-1]]
        if remaining == 1:
            if target in adjacency and len(found) < budget:
                found.append((*path, target))
            return
        steps = [
            o
            for o in adjacency
            if o != target and o not in path and distance.get(o, remaining) < remaining and not self._is_hub(o)
        ]
        for other in sorted(steps, key=lambda o: (-adjacency[o]["weight"], o)):
            if len(found) >= budget:
                return
            self._enumerate([*path, other], target, remaining - 1, distance, found, budget)

    def _graph_path(self, entities: tuple[int, ...]) -> GraphPath:
        edges = self.graph.nx.edges
        hops = [(a, b, edges[a, b]) for a, b in itertools.pairwise(entities)]
        return GraphPath(
            entities=entities,
            edge_types=tuple(tuple(t for t in EDGE_TYPES if t in data["types"]) for _, _, data in hops),
            relations=tuple(_relation_labels(a, data) for a, _, data in hops),
            length=len(hops),
            weight=math.prod(float(data["weight"]) for _, _, data in hops),
            support=_merge_support(data["support"] for _, _, data in hops),
        )

    def _is_hub(self, entity: int) -> bool:
        return bool(self._specificity[entity] < self.config.hub_expand_min)

    def _check_entity(self, entity: int) -> int:
        if not 0 <= entity < self.graph.num_entities:
            raise ValueError(f"entity {entity} is not in the graph ({self.graph.num_entities} entities)")
        return int(entity)


@dataclass(frozen=True)
class _Trail:
    """The best path found so far to an entity during a neighbour search."""

    via: tuple[int, ...]
    edge_types: tuple[str, ...]
    weight: float
    support: tuple[int, ...]

    def extend(self, entity: int, data: dict[str, Any]) -> _Trail:
        kind = next(t for t in _HOP_TYPE_PRIORITY if t in data["types"])
        support = tuple(dict.fromkeys((*self.support, *sorted(data["support"]))))
        return _Trail((*self.via, entity), (*self.edge_types, kind), self.weight * float(data["weight"]), support)

    def neighbour(self, entity: int) -> Neighbour:
        return Neighbour(entity, len(self.via) - 1, self.via, self.edge_types, self.weight, self.support)


def _specificities(graph: KnowledgeGraph, config: ExplorationConfig) -> np.ndarray:
    passages = graph.num_passages
    df = np.array([max(e.passages, 1) for e in graph.entities], dtype=np.float64)
    if passages > 0:
        ratio = np.log1p(passages / np.minimum(df, passages)) / math.log1p(passages)
    else:
        ratio = np.ones_like(df)
    spec = np.clip(ratio, 1e-12, 1.0) ** config.specificity_exponent
    hub = np.array([e.label in config.hub_labels for e in graph.entities], dtype=bool)
    spec[hub] *= config.hub_label_factor
    return spec


def _transitions(graph: KnowledgeGraph, spec: np.ndarray, config: ExplorationConfig) -> sp.csr_matrix:
    """The transposed walk matrix: column j is where node j's mass goes; it sums to the node's
    specificity (1 for passages, 0 for nodes without edges) and the rest restarts at the seeds."""
    num_entities, size = graph.num_entities, graph.num_entities + graph.num_passages
    mentions = graph.mentions.tocoo()
    edges = graph.edges
    edge_weight = edges.weight.astype(np.float64) * config.entity_edge_weight
    edge_weight[edges.type == SYNONYM] *= config.synonym_weight
    passage_nodes = mentions.col.astype(np.int64) + num_entities
    src = np.concatenate([mentions.row, passage_nodes, edges.src, edges.dst]).astype(np.int64)
    dst = np.concatenate([passage_nodes, mentions.row, edges.dst, edges.src]).astype(np.int64)
    ones = np.ones(mentions.nnz)
    node_spec = np.concatenate([spec, np.ones(graph.num_passages)])
    weight = np.concatenate([ones, ones, edge_weight, edge_weight]) * node_spec[dst]
    keep = (weight > 0) & (src != dst)
    matrix = sp.csr_matrix((weight[keep], (src[keep], dst[keep])), shape=(size, size))
    out = np.asarray(matrix.sum(axis=1)).ravel()
    share = np.where(out > 0, node_spec, 0.0)
    scale = np.divide(share, out, out=np.zeros(size), where=out > 0)
    return sp.csr_matrix((sp.diags(scale) @ matrix).T)


def _check_weight(weight: float) -> float:
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(f"seed weights must be finite and >= 0, got {weight!r}")
    return float(weight)


def _merge_support(groups: Any) -> tuple[int, ...]:
    """Passage rows of consecutive edges in path order (each edge's rows ascending), each row once."""
    return tuple(dict.fromkeys(row for group in groups for row in sorted(group)))


def _relation_labels(start: int, data: dict[str, Any]) -> str:
    labels = {label if subject == start else label + INVERSE for subject, label in data["relations"]}
    return "; ".join(sorted(labels))


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest positive scores, ties by index ascending."""
    candidates = np.flatnonzero(scores > 0)
    if len(candidates) > k:
        kth = np.partition(scores[candidates], len(candidates) - k)[len(candidates) - k]
        candidates = candidates[scores[candidates] >= kth]
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order[:k]]
