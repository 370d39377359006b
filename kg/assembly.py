"""Assembling the graph while passages stream by: entities, mentions, and weighted entity edges.

Co-occurrence is local so that the edge count grows linearly with the corpus: a passage's title entity
is linked to every entity the passage mentions (a Wikipedia-style page links its subject to what it
says about it), and entities are linked to the others in the same sentence (at most
`max_sentence_entities` of them). Each edge keeps the first `max_support` passages that support it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import scipy.sparse as sp

from kg.graph import (
    COOCCURRENCE,
    RELATION,
    SYNONYM,
    EdgeTable,
    Entity,
    KnowledgeGraph,
    entity_id,
    normalize_name,
    title_aliases,
)
from kg.ner import Mention

TITLE_LABEL = "TITLE"


@dataclass(frozen=True)
class AssemblyConfig:
    max_support: int = 16  # passages kept per edge
    max_sentence_entities: int = 12  # entities of one sentence paired with each other
    title_weight: float = 1.0
    sentence_weight: float = 1.0


@dataclass
class _EdgeData:
    weight: float = 0.0
    support: list[int] = field(default_factory=list)


@dataclass
class _EntityData:
    key: str
    names: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)
    aliases: set[str] = field(default_factory=set)
    passages: int = 0


class GraphAssembler:
    """Accumulates entities and edges passage by passage; `finish` returns the KnowledgeGraph."""

    def __init__(self, config: AssemblyConfig | None = None) -> None:
        self.config = config or AssemblyConfig()
        self._entities: list[_EntityData] = []
        self._index: dict[str, int] = {}
        self._mention_entity: list[int] = []
        self._mention_row: list[int] = []
        self._edges: dict[tuple[int, int, int, int], _EdgeData] = {}  # (src, dst, type, relation)
        self._relations: dict[str, int] = {}
        self._rows = 0

    @property
    def num_entities(self) -> int:
        return len(self._entities)

    def entity_keys(self) -> list[str]:
        return [e.key for e in self._entities]

    def entity(self, name: str, label: str) -> int | None:
        """The index of the entity a name refers to (created on first sight); None for an empty name."""
        key = normalize_name(name)
        if len(key) < 2:
            return None
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = len(self._entities)
            self._entities.append(_EntityData(key))
        data = self._entities[index]
        data.names[name.strip()] += 1
        data.labels[label] += 1
        return index

    def add_passage(self, row: int, title: str, mentions: Sequence[Mention]) -> None:
        """One passage's title entity, mentions and co-occurrence edges."""
        self._rows = max(self._rows, row + 1)
        subject = self.entity(title, TITLE_LABEL) if title else None
        if subject is not None:
            self._entities[subject].aliases.update(title_aliases(title))
        by_sentence: dict[int, list[int]] = {}
        for mention in mentions:
            index = self.entity(mention.text, mention.label)
            if index is not None:
                by_sentence.setdefault(mention.sentence, []).append(index)
        distinct = {i for found in by_sentence.values() for i in found}
        if subject is not None:
            distinct.add(subject)
        mentioned = sorted(distinct)
        self._add_mentions(row, mentioned)
        if subject is not None:
            for other in mentioned:
                self._link(subject, other, COOCCURRENCE, -1, self.config.title_weight, row)
        for found in by_sentence.values():
            in_sentence = list(dict.fromkeys(found))[: self.config.max_sentence_entities]
            for a, b in combinations(in_sentence, 2):
                self._link(a, b, COOCCURRENCE, -1, self.config.sentence_weight, row)

    def add_relation(self, row: int, subject: str, relation: str, obj: str) -> bool:
        """A (subject, relation, object) triple read from passage `row`; False when a name is empty."""
        a, b = self.entity(subject, "RELATION_ARG"), self.entity(obj, "RELATION_ARG")
        if a is None or b is None or a == b:
            return False
        relation_index = self._relations.setdefault(relation.strip().lower(), len(self._relations))
        self._link(a, b, RELATION, relation_index, 1.0, row, directed=True)
        return True

    def add_synonyms(self, pairs: Iterable[tuple[int, int, float]]) -> int:
        count = 0
        for a, b, similarity in pairs:
            if a != b:
                self._link(a, b, SYNONYM, -1, float(similarity), None)
                count += 1
        return count

    def _add_mentions(self, row: int, entities: list[int]) -> None:
        for index in entities:
            self._entities[index].passages += 1
            self._mention_entity.append(index)
            self._mention_row.append(row)

    def _link(
        self, a: int, b: int, kind: int, relation: int, weight: float, row: int | None, directed: bool = False
    ) -> None:
        if a == b:
            return
        if not directed and a > b:
            a, b = b, a
        data = self._edges.setdefault((a, b, kind, relation), _EdgeData())
        data.weight += weight
        if row is not None and len(data.support) < self.config.max_support and row not in data.support:
            data.support.append(row)

    def finish(self, num_passages: int | None = None) -> KnowledgeGraph:
        rows = max(self._rows, num_passages or 0)
        entities = [_entity(data) for data in self._entities]
        counts = np.ones(len(self._mention_row), dtype=np.int32)
        mentions = sp.csr_matrix(
            (
                counts,
                (
                    np.asarray(self._mention_entity, dtype=np.int32),
                    np.asarray(self._mention_row, dtype=np.int32),
                ),
            ),
            shape=(len(entities), rows),
        )
        mentions.sum_duplicates()
        relations = sorted(self._relations, key=self._relations.__getitem__)
        return KnowledgeGraph(entities, mentions, self._edge_table(), relations)

    def _edge_table(self) -> EdgeTable:
        keys = sorted(self._edges)
        supports = [self._edges[k].support for k in keys]
        indptr = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in supports], out=indptr[1:])
        column = lambda i, dtype: np.asarray([k[i] for k in keys], dtype=dtype)  # noqa: E731
        return EdgeTable(
            src=column(0, np.int32),
            dst=column(1, np.int32),
            type=column(2, np.int8),
            weight=np.asarray([self._edges[k].weight for k in keys], dtype=np.float32),
            relation=column(3, np.int32),
            support_indptr=indptr,
            support_rows=np.asarray([r for s in supports for r in s], dtype=np.int32),
        )


def _entity(data: _EntityData) -> Entity:
    name = min(data.names.items(), key=lambda item: (-item[1], item[0]))[0]
    labels = data.labels.copy()
    if len(labels) > 1:
        labels.pop("RELATION_ARG", None)
    label = min(labels.items(), key=lambda item: (-item[1], item[0]))[0]
    aliases = tuple(sorted(data.aliases - {data.key}))
    return Entity(entity_id(data.key), data.key, name, label, data.passages, aliases)
