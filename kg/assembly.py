"""Assembling the graph while passages stream by: entities, mentions, and weighted entity edges.

Co-occurrence is local so that the edge count grows linearly with the corpus: a passage's title entity
is linked to every entity the passage mentions (a Wikipedia-style page links its subject to what it
says about it), and entities are linked to the others in the same sentence (at most
`max_sentence_entities` of them). Each edge keeps the first `max_support` passages that support it.

A relation triple read from a passage (LLM relation extraction) adds a directed relation edge from its
subject to its object, labelled with the relation, and makes both arguments mentions of that passage
(entities the NER did not see become nodes linked to the passage that states them, and count it in their
document frequency). The walk, neighbour expansion and path search treat relation edges like the other
entity-entity edges; paths also report their labels.

Entities, names and labels are counted in arrays (`kg.entity_vocabulary`), edges folded into sorted
arrays in bounded parts (`kg.edge_accumulator`), mentions appended to int32 arrays. On wiki_passages +
wordnet_glosses (155,691 passages, 287,029 entities, 1.15M co-occurrence edges) that state is ~156 MiB,
about 1 KiB a passage, where the dicts of Python objects it replaced took ~31 KiB a passage; the graph
is the same, file for file (tests/kg/test_sample_graph.py).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import scipy.sparse as sp

from kg.edge_accumulator import EdgeAccumulator
from kg.edge_fold import EdgeEntries, edge_group, pair_key, pair_keys
from kg.entity_vocabulary import RELATION_ARGUMENT, EntityVocabulary
from kg.graph import COOCCURRENCE, RELATION, SYNONYM, KnowledgeGraph, title_aliases
from kg.name_vectors import SynonymPairs
from kg.ner import Mention

TITLE_LABEL = "TITLE"
_COOCCURRENCE = edge_group(COOCCURRENCE)
_SYNONYM = edge_group(SYNONYM)


@dataclass(frozen=True)
class AssemblyConfig:
    max_support: int = 16  # passages kept per edge
    max_sentence_entities: int = 12  # entities of one sentence paired with each other
    title_weight: float = 1.0
    sentence_weight: float = 1.0


class GraphAssembler:
    """Accumulates entities and edges passage by passage; `finish` returns the KnowledgeGraph.

    `buffer_entries` bounds the occurrences held before they are folded into the reduced arrays, and
    `part_edges` the edges in one part of them (see `kg.edge_accumulator`); neither changes the graph."""

    def __init__(
        self, config: AssemblyConfig | None = None, *, buffer_entries: int = 1 << 18, part_edges: int = 1 << 18
    ) -> None:
        self.config = config or AssemblyConfig()
        self._vocabulary = EntityVocabulary(buffer_entries)
        self._edges = EdgeAccumulator(self.config.max_support, buffer_entries=buffer_entries, part_edges=part_edges)
        self._mention_entity = array("i")
        self._mention_row = array("i")
        self._relations: dict[str, int] = {}
        self._relation_mentions = array("q")  # entity << 32 | row of relation arguments
        self._rows = 0

    @property
    def num_entities(self) -> int:
        return len(self._vocabulary)

    def entity_keys(self) -> Sequence[str]:
        return self._vocabulary.keys.strings

    def entity(self, name: str, label: str) -> int | None:
        """The index of the entity a name refers to (created on first sight); None for an empty name."""
        return self._vocabulary.entity(name, label)

    def add_passage(self, row: int, title: str, mentions: Sequence[Mention]) -> None:
        """One passage's title entity, mentions and co-occurrence edges."""
        self._rows = max(self._rows, row + 1)
        subject = self.entity(title, TITLE_LABEL) if title else None
        if subject is not None:
            self._vocabulary.add_aliases(subject, title_aliases(title))
        by_sentence: dict[int, list[int]] = {}
        for mention in mentions:
            index = self.entity(mention.text, mention.label)
            if index is not None:
                by_sentence.setdefault(mention.sentence, []).append(index)
        distinct = {i for found in by_sentence.values() for i in found}
        if subject is not None:
            distinct.add(subject)
        mentioned = sorted(distinct)
        self._mention_entity.extend(mentioned)
        self._mention_row.extend([row] * len(mentioned))
        if subject is not None:
            linked = [_undirected(subject, other) for other in mentioned if other != subject]
            self._edges.add(linked, _COOCCURRENCE, self.config.title_weight, row)
        for found in by_sentence.values():
            in_sentence = list(dict.fromkeys(found))[: self.config.max_sentence_entities]
            pairs = [_undirected(a, b) for a, b in combinations(in_sentence, 2)]
            self._edges.add(pairs, _COOCCURRENCE, self.config.sentence_weight, row)

    def add_relation(self, row: int, subject: str, relation: str, obj: str) -> bool:
        """A (subject, relation, object) triple read from passage `row`; False when a name is empty or
        both name the same entity."""
        a, b = self.entity(subject, RELATION_ARGUMENT), self.entity(obj, RELATION_ARGUMENT)
        if a is None or b is None or a == b:
            return False
        self._rows = max(self._rows, row + 1)
        self._relation_mentions.extend([(a << 32) | row, (b << 32) | row])
        relation_index = self._relations.setdefault(relation.strip().lower(), len(self._relations))
        self._edges.add([pair_key(a, b)], edge_group(RELATION, relation_index), 1.0, row)
        return True

    def add_synonyms(self, pairs: SynonymPairs) -> int:
        """Synonym edges between the entities of each pair (a pair of one entity is skipped)."""
        keep = pairs.a != pairs.b
        a, b = np.minimum(pairs.a, pairs.b)[keep], np.maximum(pairs.a, pairs.b)[keep]
        count = len(a)
        group, row = np.full(count, _SYNONYM, dtype=np.int32), np.full(count, -1, dtype=np.int32)
        self._edges.add_entries(EdgeEntries(pair_keys(a, b), group, pairs.similarity[keep], row))
        return count

    def finish(self, num_passages: int | None = None) -> KnowledgeGraph:
        rows = max(self._rows, num_passages or 0)
        entity_rows = np.array(self._mention_entity, dtype=np.int32)
        passage_rows = np.array(self._mention_row, dtype=np.int32)
        extra = self._relation_only_mentions(entity_rows, passage_rows)
        entity_rows = np.concatenate([entity_rows, (extra >> 32).astype(np.int32)])
        passage_rows = np.concatenate([passage_rows, (extra & 0xFFFFFFFF).astype(np.int32)])
        entities = self._vocabulary.entities(np.bincount(entity_rows, minlength=self.num_entities))
        counts = np.ones(len(entity_rows), dtype=np.int32)
        mentions = sp.csr_matrix((counts, (entity_rows, passage_rows)), shape=(len(entities), rows))
        mentions.sum_duplicates()
        relations = sorted(self._relations, key=self._relations.__getitem__)
        return KnowledgeGraph(entities, mentions, self._edges.edge_table(), relations)

    def _relation_only_mentions(self, entity_rows: np.ndarray, passage_rows: np.ndarray) -> np.ndarray:
        """The (entity << 32 | row) pairs that only a relation triple names: they become mentions as well."""
        named = np.unique(np.array(self._relation_mentions, dtype=np.int64))
        return named[~np.isin(named, pair_keys(entity_rows, passage_rows))]


def _undirected(a: int, b: int) -> int:
    return pair_key(a, b) if a < b else pair_key(b, a)
