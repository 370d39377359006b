from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.documents import Document, Passage, passage_id
from retrieval.errors import IndexLoadError, InputDataError
from retrieval.passage_store import PassageStore

pytestmark = pytest.mark.unit


def _doc(doc_id: str, *texts: str) -> tuple[Document, list[Passage]]:
    doc = Document(doc_id=doc_id, title=f"T {doc_id}", text=" ".join(texts), source="dump.jsonl", line=1)
    passages = [Passage(passage_id(doc_id, t), doc_id, doc.title, t, i) for i, t in enumerate(texts)]
    return doc, passages


def test_rows_follow_insertion_and_random_access_works(tmp_path: Path) -> None:
    store = PassageStore.create(tmp_path / "p.sqlite")
    for doc_id, texts in (("a", ["one", "two"]), ("b", ["three"])):
        store.add_document(*_doc(doc_id, *texts))
    store.close()
    store = PassageStore.open(tmp_path / "p.sqlite")
    assert len(store) == 3 and store.document_count() == 2
    rows = store.get_rows([2, 0, 99])
    assert [p.text for p in rows] == ["three", "one"]
    wanted = [passage_id("b", "three"), "passage-missing", passage_id("a", "two")]
    assert [p.text for p in store.get_many(wanted)] == ["three", "two"]
    assert [p.text for p in store.iter_passages(batch_size=1)] == ["one", "two", "three"]
    assert store.rows_of([passage_id("a", "two")]) == {passage_id("a", "two"): 1}


def test_duplicate_document_id_names_both_places(tmp_path: Path) -> None:
    store = PassageStore.create(tmp_path / "p.sqlite")
    store.add_document(*_doc("a", "one"))
    _, passages = _doc("a", "other")
    with pytest.raises(InputDataError, match=r"duplicate document id 'a' \(first seen at dump.jsonl:1\)"):
        store.add_document(Document("a", "t", "other", "second.jsonl", 7), passages)


def test_open_missing_or_corrupt_store(tmp_path: Path) -> None:
    with pytest.raises(IndexLoadError, match="passage store missing"):
        PassageStore.open(tmp_path / "nope.sqlite")
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(IndexLoadError, match="not readable"):
        PassageStore.open(bad)


def test_many_ids_beyond_sqlite_variable_limit(tmp_path: Path) -> None:
    store = PassageStore.create(tmp_path / "p.sqlite")
    for i in range(2000):
        store.add_document(*_doc(f"d{i}", f"text {i}"))
    store.commit()
    rows = list(range(1999, -1, -1))
    assert [p.doc_id for p in store.get_rows(rows)] == [f"d{i}" for i in rows]
