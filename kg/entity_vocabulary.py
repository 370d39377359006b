"""Entities while a graph is assembled: keys interned once, surface names and labels counted in arrays.

An entity is the index of its normalised key in a string table. Every sighting counts its surface name
and its label as an (entity, string id) pair in a `PairCounter` (int64 keys, reduced to sorted unique
keys with counts now and then), so what an entity costs is its key, its distinct names, and 16 bytes
per distinct (entity, name) or (entity, label) pair, not a dict of Counters. `entities` turns them into
`Entity` records as the old assembly did: the commonest name and label (ties to the smaller string),
RELATION_ARG only when it is the entity's one label, the aliases of its titles.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np

from kg.graph import Entity, entity_id, normalize_name

RELATION_ARGUMENT = "RELATION_ARG"  # the label of a name only an LLM relation triple gave


class StringTable:
    """Strings interned once: an id for each, in order of first sight."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self.strings: list[str] = []

    def __len__(self) -> int:
        return len(self.strings)

    def id(self, text: str) -> int:
        found = self._ids.get(text)
        if found is None:
            found = self._ids[text] = len(self.strings)
            self.strings.append(text)
        return found

    def get(self, text: str) -> int | None:
        return self._ids.get(text)

    def ranks(self) -> np.ndarray:
        """Each string's position in sorted (code point) order."""
        order = sorted(range(len(self.strings)), key=self.strings.__getitem__)
        ranks = np.empty(len(order), dtype=np.int64)
        ranks[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
        return ranks


class PairCounter:
    """How often each (a, b) pair of non-negative int32 ids was added."""

    def __init__(self, buffer_entries: int = 1 << 18) -> None:
        self.buffer_entries = buffer_entries
        self._buffer = array("q")
        self._keys = np.zeros(0, dtype=np.int64)  # sorted, unique: a << 32 | b
        self._counts = np.zeros(0, dtype=np.int64)

    def add(self, a: int, b: int) -> None:
        self._buffer.append((a << 32) | b)
        if len(self._buffer) >= max(self.buffer_entries, len(self._keys) // 2):
            self._reduce()

    def _reduce(self) -> None:
        if not self._buffer:
            return
        keys = np.concatenate([self._keys, np.array(self._buffer, dtype=np.int64)])
        weights = np.concatenate([self._counts, np.ones(len(self._buffer), dtype=np.int64)])
        self._buffer = array("q")
        self._keys, inverse = np.unique(keys, return_inverse=True)
        self._counts = np.bincount(inverse, weights=weights).astype(np.int64)

    def counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(a, b, count) arrays sorted by (a, b)."""
        self._reduce()
        return self._keys >> 32, self._keys & 0xFFFFFFFF, self._counts


class EntityVocabulary:
    """Entity keys with their names, labels and title aliases, counted as they are seen."""

    def __init__(self, buffer_entries: int = 1 << 18) -> None:
        self.keys = StringTable()  # entity index -> normalised key
        self.names = StringTable()  # surface names and alias keys
        self.labels = StringTable()
        self._name_counts = PairCounter(buffer_entries)
        self._label_counts = PairCounter(buffer_entries)
        self._aliases = PairCounter(buffer_entries)

    def __len__(self) -> int:
        return len(self.keys)

    def entity(self, name: str, label: str) -> int | None:
        """The index of the entity a name refers to (created on first sight); None for an empty name."""
        key = normalize_name(name)
        if len(key) < 2:
            return None
        index = self.keys.id(key)
        self._name_counts.add(index, self.names.id(name.strip()))
        self._label_counts.add(index, self.labels.id(label))
        return index

    def add_aliases(self, entity: int, aliases: Sequence[str]) -> None:
        for alias in aliases:
            self._aliases.add(entity, self.names.id(alias))

    def entities(self, passages: np.ndarray) -> list[Entity]:
        """The Entity records, `passages[i]` being entity i's document frequency."""
        name = _commonest(*self._name_counts.counts(), self.names.ranks(), len(self))
        label = _commonest(*self._label_counts_without_relation_argument(), self.labels.ranks(), len(self))
        aliases = self._alias_tuples()
        names, labels = self.names.strings, self.labels.strings
        columns = zip(self.keys.strings, name.tolist(), label.tolist(), passages.tolist(), strict=True)
        return [
            Entity(entity_id(key), key, names[n], labels[la], int(p), aliases.get(i, ()))
            for i, (key, n, la, p) in enumerate(columns)
        ]

    def _label_counts_without_relation_argument(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        entity, label, count = self._label_counts.counts()
        relation_argument = self.labels.get(RELATION_ARGUMENT)
        if relation_argument is None:
            return entity, label, count
        several = np.bincount(entity, minlength=len(self))[entity] > 1
        keep = ~(several & (label == relation_argument))
        return entity[keep], label[keep], count[keep]

    def _alias_tuples(self) -> dict[int, tuple[str, ...]]:
        entity, alias, _ = self._aliases.counts()
        found: dict[int, list[str]] = {}
        for e, a in zip(entity.tolist(), alias.tolist(), strict=True):
            if self.names.strings[a] != self.keys.strings[e]:
                found.setdefault(e, []).append(self.names.strings[a])
        return {e: tuple(sorted(names)) for e, names in found.items()}


def _commonest(entity: np.ndarray, value: np.ndarray, count: np.ndarray, rank: np.ndarray, size: int) -> np.ndarray:
    """For each entity 0..size-1, its value with the highest count, ties to the lowest rank."""
    order = np.lexsort((rank[value], -count, entity))
    first = np.ones(len(order), dtype=bool)
    first[1:] = entity[order][1:] != entity[order][:-1]
    chosen = np.full(size, -1, dtype=np.int64)
    chosen[entity[order][first]] = value[order][first]
    return chosen
