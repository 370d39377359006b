"""Extending the knowledge graph of a bundle with new passages, without rebuilding it.

The new passages go through NER and the same `GraphAssembler` as a build, which gives a small graph over
them alone; `merge_graphs` folds it into the existing one: entities are matched by their normalised key
(new ones are appended, so existing entity indices and the name index rows stay valid), mention columns
are the passages' global rows, and edges with the same (source, target, type, relation) add their weights
and supports. Synonym edges are found for the new entities only, against all names (the name index is
extended with their vectors); pairs of old entities are left as they were. LLM relation extraction is
not run for added passages (the manifest records how many passages it covered).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from kg.assembly import AssemblyConfig, GraphAssembler
from kg.graph import GRAPH_DIR, RELATION, SYNONYM, EdgeTable, Entity, KnowledgeGraph, entity_id
from kg.name_vectors import NameIndex, SynonymConfig, make_vectorizer
from kg.ner import EntityExtractor
from retrieval.builder import StageClock
from retrieval.bundle import IndexBundle
from retrieval.embedders import Embedder
from retrieval.passage_store import PassageStore

log = logging.getLogger(__name__)

EdgeKey = tuple[int, int, int, int]  # src, dst, type, relation


@dataclass
class _Edge:
    weight: float
    support: list[int] = field(default_factory=list)


def merge_graphs(base: KnowledgeGraph, addition: KnowledgeGraph, *, max_support: int = 16) -> KnowledgeGraph:
    """`base` with `addition` folded in; entity i of `base` keeps index i. Mention columns are global rows."""
    entities, mapping = _merge_entities(base.entities, addition.entities)
    relations = list(base.relations)
    relation_map = {}
    for i, name in enumerate(addition.relations):
        if name not in relations:
            relations.append(name)
        relation_map[i] = relations.index(name)
    passages = max(base.num_passages, addition.num_passages)
    mentions = _merge_mentions(base.mentions, addition.mentions, mapping, len(entities), passages)
    edges = _edge_dict(base.edges)
    for i in range(len(addition.edges)):
        a, b = mapping[int(addition.edges.src[i])], mapping[int(addition.edges.dst[i])]
        kind, relation = int(addition.edges.type[i]), int(addition.edges.relation[i])
        if kind != RELATION and a > b:
            a, b = b, a
        relation = relation_map[relation] if relation >= 0 else -1
        _add_edge(
            edges, (a, b, kind, relation), float(addition.edges.weight[i]), addition.edges.support(i), max_support
        )
    return KnowledgeGraph(entities, mentions, edge_table(edges), relations, dict(base.meta))


def _merge_entities(base: list[Entity], addition: list[Entity]) -> tuple[list[Entity], list[int]]:
    entities = list(base)
    by_key = {e.key: i for i, e in enumerate(base)}
    mapping: list[int] = []
    for entity in addition:
        index = by_key.get(entity.key)
        if index is None:
            index = by_key[entity.key] = len(entities)
            entities.append(replace(entity, id=entity_id(entity.key)))
        else:
            old = entities[index]
            aliases = tuple(sorted(set(old.aliases) | set(entity.aliases)))
            entities[index] = replace(old, passages=old.passages + entity.passages, aliases=aliases)
        mapping.append(index)
    return entities, mapping


def _merge_mentions(
    base: sp.csr_matrix, addition: sp.csr_matrix, mapping: list[int], num_entities: int, num_passages: int
) -> sp.csr_matrix:
    a, b = base.tocoo(), addition.tocoo()
    remap = np.asarray(mapping, dtype=np.int64)
    rows = np.concatenate([a.row, remap[b.row] if len(b.row) else b.row]).astype(np.int32)
    cols = np.concatenate([a.col, b.col]).astype(np.int32)
    data = np.concatenate([a.data, b.data]).astype(np.int32)
    merged = sp.csr_matrix((data, (rows, cols)), shape=(num_entities, num_passages))
    merged.sum_duplicates()
    return merged


def _edge_dict(table: EdgeTable) -> dict[EdgeKey, _Edge]:
    edges: dict[EdgeKey, _Edge] = {}
    keys = zip(table.src.tolist(), table.dst.tolist(), table.type.tolist(), table.relation.tolist(), strict=True)
    for i, key in enumerate(keys):
        edges[key] = _Edge(float(table.weight[i]), table.support(i))
    return edges


def _add_edge(edges: dict[EdgeKey, _Edge], key: EdgeKey, weight: float, support: Sequence[int], limit: int) -> None:
    if key[0] == key[1]:
        return
    edge = edges.setdefault(key, _Edge(0.0))
    edge.weight += weight
    for row in support:
        if len(edge.support) >= limit:
            break
        if row not in edge.support:
            edge.support.append(row)


def edge_table(edges: dict[EdgeKey, _Edge]) -> EdgeTable:
    keys = sorted(edges)
    supports = [edges[k].support for k in keys]
    indptr = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in supports], out=indptr[1:])
    return EdgeTable(
        src=np.asarray([k[0] for k in keys], dtype=np.int32),
        dst=np.asarray([k[1] for k in keys], dtype=np.int32),
        type=np.asarray([k[2] for k in keys], dtype=np.int8),
        weight=np.asarray([edges[k].weight for k in keys], dtype=np.float32),
        relation=np.asarray([k[3] for k in keys], dtype=np.int32),
        support_indptr=indptr,
        support_rows=np.asarray([r for s in supports for r in s], dtype=np.int32),
    )


def add_synonyms(graph: KnowledgeGraph, pairs: Sequence[tuple[int, int, float]]) -> KnowledgeGraph:
    edges = _edge_dict(graph.edges)
    for a, b, similarity in pairs:
        _add_edge(edges, (min(a, b), max(a, b), SYNONYM, -1), float(similarity), (), 0)
    return KnowledgeGraph(graph.entities, graph.mentions, edge_table(edges), graph.relations, graph.meta)


def new_synonym_pairs(
    names: NameIndex, vectors: np.ndarray, first_new: int, config: SynonymConfig
) -> list[tuple[int, int, float]]:
    """Synonym pairs of the names at indices `first_new..` (their `vectors`, already in `names`)."""
    if len(vectors) == 0:
        return []
    k = min(config.neighbours + 1, names.index.ntotal)
    pairs: dict[tuple[int, int], float] = {}
    for offset, ranked in enumerate(names.index.search(vectors, k)):
        a = first_new + offset
        for b, score in ranked:
            if b != a and score >= config.threshold:
                pairs[(min(a, b), max(a, b))] = round(float(score), 4)
    return sorted((a, b, s) for (a, b), s in pairs.items())


class GraphUpdate:
    """The `BundleUpdate` of the knowledge graph: NER on the new passages, merge, new synonyms."""

    section = "graph"

    def __init__(self, extractor: EntityExtractor, *, embedder: Embedder | None = None) -> None:
        self.extractor = extractor
        self.embedder = embedder

    def run(
        self, bundle: IndexBundle, store: PassageStore, first_row: int, staging: Path, clock: StageClock
    ) -> dict[str, Any]:
        section = dict(bundle.manifest.data["graph"])
        base = KnowledgeGraph.load(bundle.directory / GRAPH_DIR)
        assembly = AssemblyConfig(**section.get("assembly", {}))
        addition = self._assemble(store, first_row, assembly, clock)
        merged = merge_graphs(base, addition, max_support=assembly.max_support)
        synonyms = _synonym_config(section.get("synonyms", {}))
        with clock.stage("synonyms", merged.num_entities - base.num_entities, "entities") as bar:
            names = NameIndex.load(bundle.directory / GRAPH_DIR, make_vectorizer(synonyms.vectors, self.embedder))
            keys = [e.key for e in merged.entities[base.num_entities :]]
            vectors = names.vectorizer.vectorize(keys) if keys else np.zeros((0, names.index.dimension), np.float32)
            if len(vectors):
                names.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
            pairs = new_synonym_pairs(names, vectors, base.num_entities, synonyms)
            merged = add_synonyms(merged, pairs)
            bar.advance(len(keys))
        merged.save(staging / GRAPH_DIR)
        names.save(staging / GRAPH_DIR)
        section["counts"] = merged.counts()
        section["synonyms"] = {**section.get("synonyms", {}), "edges": merged.counts()["synonym_edges"]}
        log.info("graph extended by %d passages: %s", len(store) - first_row, section["counts"])
        return section

    def _assemble(
        self, store: PassageStore, first_row: int, config: AssemblyConfig, clock: StageClock
    ) -> KnowledgeGraph:
        passages = store.get_rows(list(range(first_row, len(store))))
        assembler = GraphAssembler(config)
        with clock.stage("ner", len(passages), "passages") as bar:
            found = self.extractor.extract(p.text for p in passages)
            for offset, (passage, mentions) in enumerate(zip(passages, found, strict=True)):
                assembler.add_passage(first_row + offset, passage.title, mentions)
                bar.advance()
        return assembler.finish(len(store))


def _synonym_config(section: dict[str, Any]) -> SynonymConfig:
    names = {f.name for f in fields(SynonymConfig)}
    return SynonymConfig(**{k: v for k, v in section.items() if k in names})
