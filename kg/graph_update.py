"""Extending the knowledge graph of a bundle with new passages, without rebuilding it.

The new passages go through NER and the same `GraphAssembler` as a build, which gives a small graph over
them alone; `merge_graphs` folds it into the existing one: entities are matched by their normalised key
(new ones are appended, so existing entity indices and the name index rows stay valid), mention columns
are the passages' global rows, and edges with the same (source, target, type, relation) add their weights
and supports (in arrays, `kg.edge_accumulator.fold`, as a build accumulates them). Synonym edges are
found for the new entities only, against all names (the name index is extended with their vectors);
pairs of old entities are left as they were. LLM relation extraction is not run for added passages (the
manifest records how many passages it covered).
"""

from __future__ import annotations

import logging
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from kg.assembly import AssemblyConfig, GraphAssembler
from kg.edge_fold import EdgeEntries, ReducedEdges, edge_group, edge_groups, edge_table, fold, pair_keys
from kg.graph import GRAPH_DIR, RELATION, SYNONYM, Entity, KnowledgeGraph, entity_id
from kg.name_vectors import NameIndex, SynonymConfig, SynonymPairs, make_vectorizer
from kg.ner import EntityExtractor
from retrieval.builder import StageClock
from retrieval.bundle import IndexBundle
from retrieval.embedders import Embedder
from retrieval.passage_store import PassageStore

log = logging.getLogger(__name__)


def merge_graphs(base: KnowledgeGraph, addition: KnowledgeGraph, *, max_support: int = 16) -> KnowledgeGraph:
    """`base` with `addition` folded in; entity i of `base` keeps index i. Mention columns are global rows."""
    entities, mapping = _merge_entities(base.entities, addition.entities)
    relations = list(base.relations)
    relation_map = []
    for name in addition.relations:
        if name not in relations:
            relations.append(name)
        relation_map.append(relations.index(name))
    passages = max(base.num_passages, addition.num_passages)
    mentions = _merge_mentions(base.mentions, addition.mentions, mapping, len(entities), passages)
    new = addition.edges
    remap = np.asarray(mapping, dtype=np.int64)
    src, dst = remap[new.src], remap[new.dst]
    swap = (new.type != RELATION) & (src > dst)
    src, dst = np.where(swap, dst, src), np.where(swap, src, dst)
    relation = np.asarray([*relation_map, -1], dtype=np.int32)[new.relation]  # -1 stays -1
    entries = EdgeEntries.of_table(new, src, dst, edge_groups(new.type, relation))
    edges = fold(ReducedEdges.of_table(base.edges), entries, max_support)
    return KnowledgeGraph(entities, mentions, edge_table([edges]), relations, dict(base.meta))


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


def add_synonyms(graph: KnowledgeGraph, pairs: SynonymPairs) -> KnowledgeGraph:
    keep = pairs.a != pairs.b
    a, b = np.minimum(pairs.a, pairs.b)[keep], np.maximum(pairs.a, pairs.b)[keep]
    group = np.full(len(a), edge_group(SYNONYM), dtype=np.int32)
    entries = EdgeEntries(pair_keys(a, b), group, pairs.similarity[keep], np.full(len(a), -1, dtype=np.int32))
    edges = fold(ReducedEdges.of_table(graph.edges), entries, 0)
    return KnowledgeGraph(graph.entities, graph.mentions, edge_table([edges]), graph.relations, graph.meta)


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
            names.add(keys)
            merged = add_synonyms(merged, names.synonym_pairs(synonyms, first=base.num_entities))
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
