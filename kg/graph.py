"""The knowledge graph of an index: entity nodes, passage nodes, and the edges between them.

Nodes: entities (index 0..E-1, ids `entity-<hash>`) and passages (their store rows 0..P-1, ids
`passage-<hash>`). Edges: passage-entity "mentions" (a sparse E x P count matrix), and entity-entity
edges of three types (relation, co-occurrence, synonym), each with a weight and the passage rows that
support it. Stored as plain files in the bundle's `graph/` folder (JSON and .npz, no pickle), and
viewed through networkx for neighbour and path queries; PageRank runs on a scipy sparse matrix.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from retrieval.errors import IndexLoadError

GRAPH_DIR = "graph"
FORMAT_VERSION = 1
EDGE_TYPES = ("relation", "cooccurrence", "synonym")
RELATION, COOCCURRENCE, SYNONYM = range(3)
_ENTITIES = "entities.json"
_MENTIONS = "mentions.npz"
_EDGES = "edges.npz"
_META = "graph.json"

_PUNCT = re.compile(r"[^\w\s]")
_SPACE = re.compile(r"\s+")
_LEADING_ARTICLE = re.compile(r"^(the|a|an) ")
_PARENTHETICAL = re.compile(r"\s*\([^)]*\)\s*$")


def normalize_name(name: str) -> str:
    """The canonical key of an entity name: NFKC, lower case, no punctuation or leading article."""
    text = unicodedata.normalize("NFKC", name).lower().replace("'s", "")
    text = _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()
    return _LEADING_ARTICLE.sub("", text)


def title_aliases(title: str) -> list[str]:
    """Other keys a title is known by: "Ed Wood (film)" is also "ed wood"."""
    bare = _PARENTHETICAL.sub("", title)
    return [normalize_name(bare)] if bare != title and normalize_name(bare) else []


def entity_id(key: str) -> str:
    return "entity-" + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class Entity:
    id: str
    key: str  # normalised name: the node's identity
    name: str  # the most frequent surface form
    label: str  # NER label (PERSON, GPE, ...) or TITLE
    passages: int  # how many passages mention it (its document frequency)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class EdgeTable:
    """Entity-entity edges; undirected types are stored once with src < dst."""

    src: np.ndarray  # int32
    dst: np.ndarray  # int32
    type: np.ndarray  # int8, index into EDGE_TYPES
    weight: np.ndarray  # float32
    relation: np.ndarray  # int32 index into relations, -1 unless type is relation
    support_indptr: np.ndarray  # int64, CSR over support_rows
    support_rows: np.ndarray  # int32 passage rows

    def __len__(self) -> int:
        return len(self.src)

    def support(self, edge: int) -> list[int]:
        return self.support_rows[self.support_indptr[edge] : self.support_indptr[edge + 1]].tolist()


class KnowledgeGraph:
    """Entities, mentions and entity edges of one index, with lookups built once."""

    def __init__(
        self,
        entities: list[Entity],
        mentions: sp.csr_matrix,
        edges: EdgeTable,
        relations: list[str],
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.entities = entities
        self.mentions = mentions  # E x P, counts
        self.edges = edges
        self.relations = relations
        self.meta = meta or {}
        self.by_id = {e.id: i for i, e in enumerate(entities)}

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_passages(self) -> int:
        return int(self.mentions.shape[1])

    @functools.cached_property
    def by_key(self) -> dict[str, int]:
        """Normalised name or alias -> entity index (a name beats another entity's alias)."""
        keys: dict[str, int] = {}
        for index, entity in enumerate(self.entities):
            for alias in entity.aliases:
                keys.setdefault(alias, index)
        keys.update({e.key: i for i, e in enumerate(self.entities)})
        return keys

    @functools.cached_property
    def passage_entities(self) -> sp.csr_matrix:
        """P x E: the entities each passage mentions."""
        return self.mentions.T.tocsr()

    def entities_of_passage(self, row: int) -> list[int]:
        matrix = self.passage_entities
        return matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]].tolist()

    def passages_of_entity(self, entity: int) -> list[int]:
        return self.mentions.indices[self.mentions.indptr[entity] : self.mentions.indptr[entity + 1]].tolist()

    def find(self, name: str) -> int | None:
        """An entity by id, exact name or alias (normalised)."""
        if name in self.by_id:
            return self.by_id[name]
        return self.by_key.get(normalize_name(name))

    def counts(self) -> dict[str, int]:
        by_type = np.bincount(self.edges.type, minlength=len(EDGE_TYPES)) if len(self.edges) else [0, 0, 0]
        return {
            "entities": self.num_entities,
            "passages": self.num_passages,
            "mentions": int(self.mentions.nnz),
            **{f"{name}_edges": int(count) for name, count in zip(EDGE_TYPES, by_type, strict=True)},
        }

    @functools.cached_property
    def nx(self) -> Any:
        """The entity graph as a networkx Graph: edge attributes weight, types, relations, support rows."""
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(range(self.num_entities))
        edges = self.edges
        for i in range(len(edges)):
            a, b = int(edges.src[i]), int(edges.dst[i])
            data = graph.get_edge_data(a, b)
            if data is None:
                data = {"weight": 0.0, "types": [], "relations": [], "support": []}
                graph.add_edge(a, b, **data)
                data = graph.get_edge_data(a, b)
            data["weight"] += float(edges.weight[i])
            data["types"].append(EDGE_TYPES[edges.type[i]])
            if edges.relation[i] >= 0:
                data["relations"].append((a if edges.src[i] == a else b, self.relations[edges.relation[i]]))
            data["support"].extend(edges.support(i))
        return graph

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        _write_entities(directory / _ENTITIES, self.entities)
        coo = self.mentions.tocoo()
        np.savez(
            directory / _MENTIONS,
            entity=coo.row.astype(np.int32),
            passage=coo.col.astype(np.int32),
            count=coo.data.astype(np.int32),
            shape=np.asarray(self.mentions.shape, dtype=np.int64),
        )
        e = self.edges
        np.savez(
            directory / _EDGES,
            src=e.src,
            dst=e.dst,
            type=e.type,
            weight=e.weight,
            relation=e.relation,
            support_indptr=e.support_indptr,
            support_rows=e.support_rows,
        )
        meta = {"format_version": FORMAT_VERSION, "relations": self.relations, **self.meta}
        (directory / _META).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> KnowledgeGraph:
        try:
            meta = json.loads((directory / _META).read_text(encoding="utf-8"))
            if meta.get("format_version") != FORMAT_VERSION:
                raise IndexLoadError(
                    f"{directory}: graph format {meta.get('format_version')!r}, "
                    f"this Sleuth reads {FORMAT_VERSION}: rebuild the index"
                )
            raw = json.loads((directory / _ENTITIES).read_text(encoding="utf-8"))
            entities = [
                Entity(r["id"], r["key"], r["name"], r["label"], int(r["passages"]), tuple(r["aliases"])) for r in raw
            ]
            with np.load(directory / _MENTIONS, allow_pickle=False) as m:
                shape = tuple(int(x) for x in m["shape"])
                mentions = sp.csr_matrix((m["count"], (m["entity"], m["passage"])), shape=shape)
            with np.load(directory / _EDGES, allow_pickle=False) as z:
                edges = EdgeTable(**{name: z[name] for name in z.files})
        except IndexLoadError:
            raise
        except FileNotFoundError as exc:
            raise IndexLoadError(f"knowledge graph file missing: {exc.filename}") from exc
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise IndexLoadError(f"knowledge graph in {directory} is corrupt: {type(exc).__name__}: {exc}") from exc
        _check(entities, mentions, edges, directory)
        relations = [str(r) for r in meta.pop("relations", [])]
        return cls(entities, mentions, edges, relations, meta)


def _write_entities(path: Path, entities: list[Entity], batch: int = 10_000) -> None:
    """The entities as one JSON list, written a batch at a time (the bytes json.dumps(list) gives)."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write("[")
        for start in range(0, len(entities), batch):
            records = (
                {
                    "id": e.id,
                    "key": e.key,
                    "name": e.name,
                    "label": e.label,
                    "passages": e.passages,
                    "aliases": list(e.aliases),
                }
                for e in entities[start : start + batch]
            )
            handle.write((", " if start else "") + ", ".join(json.dumps(r, ensure_ascii=False) for r in records))
        handle.write("]")


def _check(entities: list[Entity], mentions: sp.csr_matrix, edges: EdgeTable, directory: Path) -> None:
    problems = []
    if mentions.shape[0] != len(entities):
        problems.append(f"mentions has {mentions.shape[0]} entity rows for {len(entities)} entities")
    if len(edges) and max(int(edges.src.max()), int(edges.dst.max())) >= len(entities):
        problems.append("an edge points past the last entity")
    if len(edges.support_indptr) != len(edges) + 1:
        problems.append("edge support offsets do not match the edges")
    if problems:
        raise IndexLoadError(f"knowledge graph in {directory} is corrupt: {'; '.join(problems)}")
