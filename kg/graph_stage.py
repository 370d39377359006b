"""The knowledge-graph stage of `sleuth index build`: NER, relations, synonyms, then the graph files.

Relations are extracted only when an LLM is given (`sleuth index build --kg-llm SPEC`): the first
`llm_limit` passages (all without a limit) go to `kg.openie.LLMTripleExtractor`, and each valid triple
becomes a relation edge of the graph (see `kg.assembly`). The manifest's `graph.llm_relations` records
what ran: the model, the limit, the passages, triples kept, failures and seconds.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kg.assembly import AssemblyConfig, GraphAssembler
from kg.graph import GRAPH_DIR
from kg.name_vectors import NameIndex, SynonymConfig, make_vectorizer
from kg.ner import EntityExtractor
from kg.openie import CompletionModel, LLMTripleExtractor
from retrieval.builder import StageClock
from retrieval.bundle import MANIFEST, PASSAGES, IndexBundle, Manifest
from retrieval.embedders import Embedder
from retrieval.errors import ConfigError
from retrieval.passage_store import PassageStore
from retrieval.progress import ProgressReporter, SilentProgress
from retrieval.staging import staged_directory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GraphBuildConfig:
    assembly: AssemblyConfig = field(default_factory=AssemblyConfig)
    synonyms: SynonymConfig = field(default_factory=SynonymConfig)
    llm_limit: int | None = None  # passages given to the LLM for triples (None: all, when an LLM is set)

    def __post_init__(self) -> None:
        if self.llm_limit is not None and self.llm_limit < 1:
            raise ConfigError(f"the LLM relation limit must be at least 1 passage, got {self.llm_limit}")


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
        relation_model: str | None = None,
    ) -> None:
        self.extractor = extractor
        self.config = config or GraphBuildConfig()
        self.embedder = embedder
        self.triples = triples
        self._extractor_info = describe_extractor or {}
        self._relation_model = relation_model  # what the manifest calls the LLM (its spec)

    def run(self, store: PassageStore, staging: Path, clock: StageClock) -> dict[str, Any]:
        assembler = GraphAssembler(self.config.assembly)
        self._extract_entities(store, assembler, clock)
        llm = self._extract_relations(store, assembler, clock)
        synonyms = self._link_synonyms(assembler, staging / GRAPH_DIR, clock)
        with clock.stage("graph", None, "files") as bar:
            graph = assembler.finish(len(store))
            del assembler  # its arrays are not needed while the files are written
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
            return {"used": False, "reason": "no LLM given (sleuth index build --kg-llm SPEC)"}
        limit = len(store) if self.config.llm_limit is None else min(self.config.llm_limit, len(store))
        start = time.perf_counter()
        kept = 0
        with clock.stage("llm-relations", limit, "passages") as bar:
            passages = store.get_rows(list(range(limit)))
            pairs = [(p.title, p.text) for p in passages]
            for row, triples in enumerate(self.triples.extract(pairs)):
                kept += sum(assembler.add_relation(row, t.subject, t.relation, t.object) for t in triples)
                bar.advance()
        stats = self.triples.stats
        section = {
            "used": True,
            "model": self._relation_model,
            "limit": self.config.llm_limit,
            "passages": limit,
            "triples": kept,  # added to the graph as relation edges
            "triples_parsed": stats.triples,  # valid triples (a triple whose two names are one entity is not kept)
            "failures": stats.failures,
            "invalid_json": stats.invalid_json,
            "failed_calls": stats.failed_calls,
            "invalid_triples": stats.invalid_triples,
            "ungrounded_triples": stats.ungrounded_triples,
            "duplicate_triples": stats.duplicate_triples,
            "errors": stats.errors,
            "seconds": round(time.perf_counter() - start, 3),
        }
        log.info(
            "LLM relations: %d triples from %d passages (%d failures) in %.1f s",
            kept,
            limit,
            stats.failures,
            section["seconds"],
        )
        return section

    def _link_synonyms(self, assembler: GraphAssembler, directory: Path, clock: StageClock) -> int:
        config = self.config.synonyms
        keys = assembler.entity_keys()
        with clock.stage("synonyms", len(keys), "entities") as bar:
            names = NameIndex.build(keys, make_vectorizer(config.vectors, self.embedder), config)
            count = assembler.add_synonyms(names.synonym_pairs(config))
            directory.mkdir(parents=True, exist_ok=True)
            names.save(directory)
            bar.advance(len(keys))
        return count


def graph_stage(
    embedder: Embedder | None = None,
    *,
    synonyms: SynonymConfig | None = None,
    ner_processes: int = 1,
    relations: CompletionModel | None = None,
    relation_model: str | None = None,
    llm_limit: int | None = None,
) -> KnowledgeGraphStage:
    """The graph stage with the packaged spaCy NER model: what `sleuth index build` runs by default.
    With `relations` (an LLM), it also extracts relation triples from the first `llm_limit` passages,
    keeping those whose subject and object the passage names; `relation_model` names that LLM in the
    manifest."""
    from kg.ner import SpacyEntityExtractor, SpacyNerConfig

    config = GraphBuildConfig(synonyms=synonyms or SynonymConfig(), llm_limit=llm_limit)
    extractor = SpacyEntityExtractor(SpacyNerConfig(n_process=ner_processes))
    return KnowledgeGraphStage(
        extractor,
        config,
        embedder=embedder,
        triples=LLMTripleExtractor(relations, grounded=True) if relations is not None else None,
        describe_extractor=extractor.describe(),
        relation_model=relation_model,
    )


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
