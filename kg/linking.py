"""Entity linking: the entities of the graph that a question names, scored.

Exact matches of the question's word n-grams against entity names and aliases come first (longest
first, so "Ed Wood (film)" is not also linked as "Ed" and "Wood"); then the question's named-entity
mentions that matched nothing exactly are looked up by name-vector similarity. A question that names
nothing in the graph links to nothing, with no error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kg.graph import KnowledgeGraph, normalize_name
from kg.name_vectors import NameIndex
from kg.ner import EntityExtractor
from retrieval.errors import ConfigError

_WORD = re.compile(r"[\w'’-]+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "how",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "she",
        "that",
        "the",
        "their",
        "them",
        "they",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "with",
        "same",
        "both",
        "than",
        "also",
        "other",
        "one",
        "same",
        "first",
        "last",
        "many",
        "much",
        "more",
        "most",
    ]
)


@dataclass(frozen=True)
class LinkingConfig:
    max_ngram: int = 6
    similar_threshold: float = 0.75  # name-vector cosine for a similarity link
    similar_per_mention: int = 2
    single_word_score: float = 0.6  # an exact one-word match is weaker evidence than a longer name
    similar_scale: float = 0.9  # similarity links score below exact ones

    def __post_init__(self) -> None:
        if self.max_ngram < 1:
            raise ConfigError(f"max_ngram must be at least 1, got {self.max_ngram}")


@dataclass(frozen=True)
class LinkedEntity:
    entity: int
    entity_id: str
    name: str
    mention: str
    score: float
    method: str  # exact | alias | similar


class EntityLinker:
    def __init__(
        self,
        graph: KnowledgeGraph,
        names: NameIndex | None = None,
        extractor: EntityExtractor | None = None,
        config: LinkingConfig | None = None,
    ) -> None:
        self.graph = graph
        self.names = names
        self.extractor = extractor
        self.config = config or LinkingConfig()

    def link(self, question: str, limit: int = 10) -> list[LinkedEntity]:
        found = {e.entity: e for e in self._exact(question)}
        for linked in self._similar(question, covered={e.mention.lower() for e in found.values()}):
            if linked.entity not in found:
                found[linked.entity] = linked
        return sorted(found.values(), key=lambda e: (-e.score, e.entity))[:limit]

    def _exact(self, question: str) -> list[LinkedEntity]:
        words = _WORD.findall(question)
        taken = [False] * len(words)
        linked: list[LinkedEntity] = []
        for size in range(min(self.config.max_ngram, len(words)), 0, -1):
            for start in range(len(words) - size + 1):
                span = words[start : start + size]
                if any(taken[start : start + size]) or all(w.lower() in STOPWORDS for w in span):
                    continue
                match = self._match(" ".join(span), size, span[0][:1].isupper())
                if match is not None:
                    linked.append(match)
                    taken[start : start + size] = [True] * size
        return linked

    def _match(self, mention: str, size: int, capitalised: bool) -> LinkedEntity | None:
        key = normalize_name(mention)
        index = self.graph.by_key.get(key)
        if index is None or len(key) < 2:
            return None
        entity = self.graph.entities[index]
        score = 1.0 if size > 1 else self.config.single_word_score * (1.0 if capitalised else 0.5)
        method = "exact" if entity.key == key else "alias"
        return LinkedEntity(index, entity.id, entity.name, mention, score, method)

    def _similar(self, question: str, covered: set[str]) -> list[LinkedEntity]:
        if self.names is None or self.extractor is None:
            return []
        mentions = [m.text for m in next(iter(self.extractor.extract([question])), [])]
        mentions = [m for m in mentions if m.lower() not in covered]
        linked = []
        for mention, ranked in zip(
            mentions, self.names.nearest(mentions, self.config.similar_per_mention), strict=True
        ):
            for index, similarity in ranked:
                if similarity >= self.config.similar_threshold:
                    entity = self.graph.entities[index]
                    score = round(similarity * self.config.similar_scale, 4)
                    linked.append(LinkedEntity(index, entity.id, entity.name, mention, score, "similar"))
        return linked


def seed_weights(linked: Sequence[LinkedEntity]) -> dict[int, float]:
    return {e.entity: e.score for e in linked}
