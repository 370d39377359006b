"""The knowledge graph of the bundled sample corpus, built from recorded NER mentions.

The fixture under `fixtures/sample_graph/` holds the spaCy mentions of the sample corpus's passages
(`mentions.json.gz`, so the test needs no NER model and does not move with spaCy) and the graph files the
graph code of commit 050aee5 (Python-dict assembly) made from them: `whole/` for a whole build with a
few LLM relation triples, `update/` for the first 200 documents built and the other 49 added
(`GraphUpdate`). `test_sample_graph.py` builds both again and compares the files.

Recording the mentions again (only when the NER output is meant to change):
    .venv/bin/python -m tests.kg.sample_graph record
Writing the expected graph files with the current graph code (only for an intended change of the graph):
    .venv/bin/python -m tests.kg.sample_graph expect
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from kg.graph_stage import GraphBuildConfig, KnowledgeGraphStage
from kg.graph_update import GraphUpdate
from kg.ner import Mention
from kg.openie import LLMTripleExtractor
from reasoning.llm.scripted import ScriptedLLM
from retrieval.builder import build_index
from retrieval.documents import Document
from retrieval.incremental import add_documents
from retrieval.readers import read_documents
from tests.conftest import SAMPLE_CORPUS
from tests.fakes import HashingEmbedder

FIXTURE = Path(__file__).parent / "fixtures" / "sample_graph"
MENTIONS = FIXTURE / "mentions.json.gz"
GRAPH_FILES = ("entities.json", "mentions.npz", "edges.npz", "graph.json", "names.faiss")
BASE_DOCUMENTS = 200  # the update fixture builds these, then adds the rest

# relation triples of three passages: Tim Burton is a NER mention of the first, "cult filmmaker" is no
# entity anywhere (a relation-only mention), the last triple names one entity twice (not kept)
TRIPLES = {
    "Title: Ed Wood (film)": [
        {"subject": "Tim Burton", "relation": "directed", "object": "Ed Wood"},
        {"subject": "Ed Wood", "relation": "was a", "object": "cult filmmaker"},
    ],
    "Title: Scott Derrickson": [{"subject": "Scott Derrickson", "relation": "lives in", "object": "Los Angeles"}],
    "Title: Woodson, Arkansas": [{"subject": "Woodson", "relation": "is in", "object": "Woodson"}],
}


def embedder() -> HashingEmbedder:
    return HashingEmbedder(max_tokens=4096)  # one passage per document: no chunking


def documents() -> list[Document]:
    return list(read_documents([SAMPLE_CORPUS]))


class ReplayedMentions:
    """An EntityExtractor that gives each passage text the mentions recorded for it."""

    def __init__(self, by_text: dict[str, list[Mention]]) -> None:
        self.by_text = by_text

    @classmethod
    def load(cls, path: Path = MENTIONS) -> ReplayedMentions:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            raw: dict[str, list[list[object]]] = json.load(handle)
        return cls({text: [_mention(m) for m in found] for text, found in raw.items()})

    def extract(self, texts: Iterable[str]) -> Iterator[list[Mention]]:
        for text in texts:
            if text not in self.by_text:
                raise KeyError(f"no recorded mentions for passage {text[:60]!r}: record them again")
            yield self.by_text[text]


def _mention(raw: list[object]) -> Mention:
    text, label, sentence, start, end = raw
    return Mention(str(text), str(label), int(str(sentence)), int(str(start)), int(str(end)))


def build_stage(extractor: ReplayedMentions) -> KnowledgeGraphStage:
    replies = [(prefix, json.dumps({"triples": triples})) for prefix, triples in TRIPLES.items()]
    model = ScriptedLLM(replies, default='{"triples": []}')
    return KnowledgeGraphStage(
        extractor, GraphBuildConfig(llm_limit=8), triples=LLMTripleExtractor(model, grounded=True)
    )


def build_graph(out: Path, extractor: ReplayedMentions) -> Path:
    """A whole build of the sample corpus with its graph; the bundle's graph folder."""
    dump = _dump(out.parent / f"{out.name}.jsonl", documents())
    build_index([dump], out, embedder(), extra_stages=[build_stage(extractor)])
    return out / "graph"


def update_graph(out: Path, extractor: ReplayedMentions) -> Path:
    """The first BASE_DOCUMENTS documents built, the rest added; the bundle's graph folder."""
    docs = documents()
    dump = _dump(out.parent / f"{out.name}.jsonl", docs[:BASE_DOCUMENTS])
    build_index([dump], out, embedder(), extra_stages=[KnowledgeGraphStage(extractor, GraphBuildConfig())])
    add_documents(out, docs[BASE_DOCUMENTS:], embedder(), update_id="sample", updates=[GraphUpdate(extractor)])
    return out / "graph"


def _dump(path: Path, docs: list[Document]) -> Path:
    records = [{"id": d.doc_id, "title": d.title, "text": d.text} for d in docs]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def record_mentions() -> None:
    """Run the packaged spaCy NER over the sample passages and keep its mentions."""
    from kg.ner import SpacyEntityExtractor

    texts = [d.text for d in documents()]
    found = SpacyEntityExtractor().extract(texts)
    raw = {
        text: [[m.text, m.label, m.sentence, m.start, m.end] for m in mentions]
        for text, mentions in zip(texts, found, strict=True)
    }
    MENTIONS.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(MENTIONS, "wt", encoding="utf-8") as handle:
        json.dump(raw, handle, ensure_ascii=False, sort_keys=True)


def write_expected(work: Path) -> None:
    """The graph files the current code makes, as the fixture keeps them: their sha256 in
    `digests.json`, their contents compressed (entities.json.gz, the .npz files) for readable diffs."""
    extractor = ReplayedMentions.load()
    digests: dict[str, dict[str, str]] = {}
    for name, make in (("whole", build_graph), ("update", update_graph)):
        graph = make(work / name, extractor)
        digests[name] = {file: hashlib.sha256((graph / file).read_bytes()).hexdigest() for file in GRAPH_FILES}
        target = FIXTURE / name
        target.mkdir(parents=True, exist_ok=True)
        with gzip.open(target / "entities.json.gz", "wb", compresslevel=9) as handle:
            handle.write((graph / "entities.json").read_bytes())
        for arrays in ("mentions.npz", "edges.npz"):
            with np.load(graph / arrays, allow_pickle=False) as data:
                np.savez_compressed(target / arrays, **{key: data[key] for key in data.files})
        shutil.copyfile(graph / "graph.json", target / "graph.json")
    (FIXTURE / "digests.json").write_text(json.dumps(digests, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:] == ["record"]:
        record_mentions()
    elif sys.argv[1:] == ["expect"]:
        with tempfile.TemporaryDirectory() as work:
            write_expected(Path(work))
    else:
        raise SystemExit("usage: python -m tests.kg.sample_graph record|expect")
