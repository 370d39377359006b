"""The knowledge-graph stage of `sleuth index build`: NER, relations, synonyms, then the graph files."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kg.assembly import AssemblyConfig, GraphAssembler
from kg.graph import GRAPH_DIR
from kg.name_vectors import NameIndex, SynonymConfig, make_vectorizer
from kg.ner import EntityExtractor
from kg.openie import LLMTripleExtractor
from retrieval.builder import StageClock
from retrieval.bundle import MANIFEST, PASSAGES, IndexBundle, Manifest
from retrieval.embedders import Embedder
from retrieval.passage_store import PassageStore
from retrieval.progress import ProgressReporter, SilentProgress
from retrieval.staging import staged_directory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GraphBuildConfig:
    assembly: AssemblyConfig = field(default_factory=AssemblyConfig)
    synonyms: SynonymConfig = field(default_factory=SynonymConfig)
    llm_limit: int | None = None  # passages given to the LLM for triples (None: all, when an LLM is set)


class KnowledgeGraphStage:
    """Builds the graph of the stored passages into `<bundle>/graph/`; its manifest section is "graph"."""

    section = "graph"

    def __init__(
        self,
        extractor: EntityExtractor,
        config: GraphBuildConfig | None = None,
        *,
        embedder: Embedder | None = None,
        triples: LLMTripleExtractor | None = None,
        describe_extractor: dict[str, Any] | None = None,
    ) -> None:
        self.extractor = extractor
        self.config = config or GraphBuildConfig()
        self.embedder = embedder
        self.triples = triples
        self._extractor_info = describe_extractor or {}

    def run(self, store: PassageStore, staging: Path, clock: StageClock) -> dict[str, Any]:
        assembler = GraphAssembler(self.config.assembly)
        self._extract_entities(store, assembler, clock)
        llm = self._extract_relations(store, assembler, clock)
        synonyms = self._link_synonyms(assembler, staging / GRAPH_DIR, clock)
        with clock.stage("graph", None, "files") as bar:
            graph = assembler.finish(len(store))
            graph.meta.update({"synonyms": asdict(self.config.synonyms)})
            graph.save(staging / GRAPH_DIR)
            bar.advance()
        section = {
            "built": True,
            "directory": GRAPH_DIR,
            "counts": graph.counts(),
            "ner": self._extractor_info,
            "assembly": asdict(self.config.assembly),
            "synonyms": {**asdict(self.config.synonyms), "edges": synonyms},
            "llm_relations": llm,
        }
        log.info("knowledge graph: %s", section["counts"])
        return section

    def _extract_entities(self, store: PassageStore, assembler: GraphAssembler, clock: StageClock) -> None:
        with clock.stage("ner", len(store), "passages") as bar:
            texts = (p.text for p in store.iter_passages())
            for row, (passage, mentions) in enumerate(
                zip(store.iter_passages(), self.extractor.extract(texts), strict=True)
            ):
                assembler.add_passage(row, passage.title, mentions)
                bar.advance()

    def _extract_relations(self, store: PassageStore, assembler: GraphAssembler, clock: StageClock) -> dict[str, Any]:
        if self.triples is None:
            return {"used": False, "reason": "no LLM backend configured"}
        limit = len(store) if self.config.llm_limit is None else min(self.config.llm_limit, len(store))
        with clock.stage("llm-relations", limit, "passages") as bar:
            passages = store.get_rows(list(range(limit)))
            pairs = [(p.title, p.text) for p in passages]
            kept = 0
            for row, triples in enumerate(self.triples.extract(pairs)):
                kept += sum(assembler.add_relation(row, t.subject, t.relation, t.object) for t in triples)
                bar.advance()
        stats = self.triples.stats
        return {
            "used": True,
            "passages": limit,
            "triples": kept,
            "invalid_json": stats.invalid_json,
            "invalid_triples": stats.invalid_triples,
        }

    def _link_synonyms(self, assembler: GraphAssembler, directory: Path, clock: StageClock) -> int:
        config = self.config.synonyms
        keys = assembler.entity_keys()
        with clock.stage("synonyms", len(keys), "entities") as bar:
            vectorizer = make_vectorizer(config.vectors, self.embedder)
            vectors = vectorizer.vectorize(keys)
            names = NameIndex.build(vectors, vectorizer, config)
            count = assembler.add_synonyms(names.synonym_pairs(vectors, config))
            directory.mkdir(parents=True, exist_ok=True)
            names.save(directory)
            bar.advance(len(keys))
        return count


def graph_stage(
    embedder: Embedder | None = None, *, synonyms: SynonymConfig | None = None, ner_processes: int = 1
) -> KnowledgeGraphStage:
    """The graph stage with the packaged spaCy NER model: what `sleuth index build` runs by default."""
    from kg.ner import SpacyEntityExtractor, SpacyNerConfig

    extractor = SpacyEntityExtractor(SpacyNerConfig(n_process=ner_processes))
    config = GraphBuildConfig(synonyms=synonyms or SynonymConfig())
    return KnowledgeGraphStage(extractor, config, embedder=embedder, describe_extractor=extractor.describe())


def add_graph(directory: Path, stage: KnowledgeGraphStage, *, progress: ProgressReporter | None = None) -> Manifest:
    """(Re)build the knowledge graph of an existing bundle without re-embedding anything.

    The bundle's files are linked into a staging copy, the graph is built there, and the copy replaces
    the bundle in one step, as in a full build.
    """
    bundle = IndexBundle.open(directory)
    clock = StageClock(progress or SilentProgress())
    with staged_directory(Path(directory), overwrite=True, marker=MANIFEST) as staging:
        _link_tree(bundle.directory, staging, skip=(GRAPH_DIR, MANIFEST))
        store = PassageStore.open(staging / PASSAGES)
        try:
            section = stage.run(store, staging, clock)
        finally:
            store.close()
        data = dict(bundle.manifest.data)
        data["graph"] = section
        data["build"] = {**data["build"], "stages": {**data["build"]["stages"], **clock.stages}}
        manifest = Manifest(data)
        manifest.write(staging)
    return manifest


def _link_tree(source: Path, target: Path, skip: tuple[str, ...]) -> None:
    for path in sorted(source.iterdir()):
        if path.name in skip:
            continue
        if path.is_dir():
            shutil.copytree(path, target / path.name, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(path), str(target / path.name))


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
