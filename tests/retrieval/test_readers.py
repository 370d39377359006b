from __future__ import annotations

import bz2
import gzip
import json
import lzma
from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval.documents import Document
from retrieval.errors import InputDataError, InputNotFoundError, PathOutsideRootError
from retrieval.readers import (
    MAX_SKIPPED_EXAMPLES,
    FieldMapping,
    SourceStats,
    detect_format,
    read_documents,
)

pytestmark = pytest.mark.unit

RECORDS = [
    {"id": "a", "title": "Alpha", "text": "Alpha is the first letter."},
    {"id": "b", "title": "Beta", "text": "Beta is the second letter."},
]

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda data: data,
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
}


def jsonl_bytes(records: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def read_all(*paths: Path, **kwargs: object) -> list[Document]:
    return list(read_documents(list(paths), **kwargs))  # type: ignore[arg-type]


# --- formats --------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".json"])
@pytest.mark.parametrize("compression", ["", ".gz", ".bz2", ".xz"])
def test_jsonl_plain_and_compressed(tmp_path: Path, suffix: str, compression: str) -> None:
    path = write(tmp_path / f"dump{suffix}{compression}", COMPRESSORS[compression](jsonl_bytes(RECORDS)))

    docs = read_all(path)

    assert [(d.doc_id, d.title, d.text) for d in docs] == [(r["id"], r["title"], r["text"]) for r in RECORDS]
    assert [d.line for d in docs] == [1, 2]
    assert {d.source for d in docs} == {str(path)}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x.jsonl", ("jsonl", None)),
        ("x.NDJSON", ("jsonl", None)),
        ("x.json.gz", ("jsonl", "gzip")),
        ("x.jsonl.bz2", ("jsonl", "bz2")),
        ("x.v2.jsonl.xz", ("jsonl", "xz")),
        ("x.csv", ("csv", None)),
        ("x.tsv.gz", ("tsv", "gzip")),
    ],
)
def test_detect_format(tmp_path: Path, name: str, expected: tuple[str, str | None]) -> None:
    assert detect_format(write(tmp_path / name, b"")) == expected
    assert detect_format(tmp_path) == ("directory", None)


def test_blank_lines_in_jsonl_are_ignored_and_line_numbers_stay_exact(tmp_path: Path) -> None:
    lines = ["", json.dumps(RECORDS[0]), "   ", "\r", json.dumps(RECORDS[1]), ""]
    path = write(tmp_path / "dump.jsonl", "\n".join(lines))

    assert [d.line for d in read_all(path)] == [2, 5]


def test_crlf_and_bom_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.jsonl", b"\xef\xbb\xbf" + jsonl_bytes(RECORDS).replace(b"\n", b"\r\n"))

    assert [d.doc_id for d in read_all(path)] == ["a", "b"]


@pytest.mark.parametrize("compression", ["", ".gz", ".xz"])
def test_csv_with_header(tmp_path: Path, compression: str) -> None:
    data = b'id,title,text\na,Alpha,"Alpha, with a comma"\nb,Beta,"multi\nline ""quoted"" text"\nc,,Gamma\n'
    path = write(tmp_path / f"dump.csv{compression}", COMPRESSORS[compression](data))

    docs = read_all(path)

    assert [(d.doc_id, d.title, d.text, d.line) for d in docs] == [
        ("a", "Alpha", "Alpha, with a comma", 2),
        ("b", "Beta", 'multi\nline "quoted" text', 3),
        ("c", "", "Gamma", 5),
    ]


def test_tsv_with_header(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.tsv", "id\ttitle\ttext\na\tAlpha\tAlpha, the first\nb\tBeta\tBeta\n")

    docs = read_all(path)

    assert [(d.doc_id, d.title, d.text) for d in docs] == [
        ("a", "Alpha", "Alpha, the first"),
        ("b", "Beta", "Beta"),
    ]


def test_csv_long_field(tmp_path: Path) -> None:
    text = "word " * 100_000
    path = write(tmp_path / "dump.csv", f"id,text\nlong,{text}\n")

    assert read_all(path)[0].text == text


def test_csv_short_row_has_empty_cells(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.csv", "text,id,title\nonly text\n")

    [doc] = read_all(path)

    assert (doc.doc_id, doc.title, doc.text) == ("dump.csv:2", "", "only text")


def test_directory_of_text_and_markdown(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    write(root / "b_notes-file.txt", "  Plain notes.\n")
    write(root / "sub" / "a.md", "Intro line.\n\n# The Title\n\nBody text.\n")
    write(root / "sub" / "c.markdown", "```\n# not a heading\n```\nNo heading here.")
    write(root / "ignored.rst", "not read")
    write(root / ".hidden.txt", "not read")

    docs = read_all(root)

    assert [(d.doc_id, d.title, d.text, d.line) for d in docs] == [
        ("b_notes-file.txt", "b notes file", "Plain notes.", 1),
        ("sub/a.md", "The Title", "Intro line.\n\n\nBody text.", 1),
        ("sub/c.markdown", "c", "```\n# not a heading\n```\nNo heading here.", 1),
    ]
    assert docs[1].source == str(root / "sub" / "a.md")


# --- fields, ids, several inputs, stats -----------------------------------------------------------


def test_field_mapping(tmp_path: Path) -> None:
    record = {"_id": "x1", "name": "Named", "body": "The body.", "text": "not this"}
    path = write(tmp_path / "dump.jsonl", jsonl_bytes([record]))

    [doc] = read_all(path, fields=FieldMapping(id="_id", title="name", text="body"))

    assert (doc.doc_id, doc.title, doc.text) == ("x1", "Named", "The body.")


def test_contents_fallback_when_text_absent(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.jsonl", jsonl_bytes([{"id": "p", "contents": "Pyserini style."}]))

    assert read_all(path)[0].text == "Pyserini style."


def test_custom_fallbacks_and_csv_fallback_column(tmp_path: Path) -> None:
    jsonl = write(tmp_path / "dump.jsonl", jsonl_bytes([{"id": 1, "abstract": "An abstract."}]))
    csv_path = write(tmp_path / "dump.csv", "id,contents\nc1,From contents.\n")

    docs = read_all(jsonl, fields=FieldMapping(text_fallbacks=("abstract",)))
    assert docs[0].text == "An abstract."
    assert read_all(csv_path)[0].text == "From contents."


def test_numeric_and_missing_ids(tmp_path: Path) -> None:
    records: list[dict[str, object]] = [
        {"id": 12, "text": "number id"},
        {"text": "no id"},
        {"id": "  ", "text": "blank id"},
        {"id": " padded ", "text": "padded id", "title": None},
    ]
    path = write(tmp_path / "dump.jsonl", jsonl_bytes(records))

    docs = read_all(path)

    assert [d.doc_id for d in docs] == ["12", "dump.jsonl:2", "dump.jsonl:3", "padded"]
    assert all(d.title == "" for d in docs)


def test_several_inputs_in_order_with_stats(tmp_path: Path) -> None:
    first = write(tmp_path / "one.jsonl.gz", gzip.compress(jsonl_bytes(RECORDS)))
    second = write(tmp_path / "two.csv", "id,text\nc,Gamma\n")
    stats: list[SourceStats] = []

    docs = read_all(second, first, stats=stats)

    assert [d.doc_id for d in docs] == ["c", "a", "b"]
    assert [(s.source, s.format, s.compression, s.records, s.skipped) for s in stats] == [
        (str(second), "csv", None, 1, 0),
        (str(first), "jsonl", "gzip", 2, 0),
    ]


def test_reading_is_lazy(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.jsonl", jsonl_bytes(RECORDS) + b"{broken\n")

    documents = read_documents([path])

    assert next(documents).doc_id == "a"
    assert next(documents).doc_id == "b"
    with pytest.raises(InputDataError):
        next(documents)


# --- bad inputs -----------------------------------------------------------------------------------


def raises_data_error(path: Path, **kwargs: object) -> InputDataError:
    with pytest.raises(InputDataError) as info:
        read_all(path, **kwargs)
    return info.value


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.jsonl", jsonl_bytes(RECORDS) + b'{"id": "c", "text": \n')

    error = raises_data_error(path)

    assert (error.source, error.line) == (str(path), 3)
    assert str(error).startswith(f"{path}:3: malformed JSON: Expecting value")
    assert error.exit_code == 65


def test_json_array_file_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.json", json.dumps(RECORDS))

    error = raises_data_error(path)

    assert error.line == 1
    assert "an array, not an object" in str(error)
    assert "JSON Lines" in str(error)


@pytest.mark.parametrize(("value", "kind"), [("42", "a number"), ('"text"', "a string"), ("null", "null")])
def test_json_value_not_an_object(tmp_path: Path, value: str, kind: str) -> None:
    path = write(tmp_path / "dump.jsonl", jsonl_bytes(RECORDS[:1]) + f"{value}\n".encode())

    error = raises_data_error(path)

    assert error.line == 2
    assert f"JSON value is {kind}, not an object" in str(error)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"id": "x"}, "no text: none of the fields 'text', 'contents' is present"),
        ({"id": "x", "text": ""}, "no text: field 'text' is empty"),
        ({"id": "x", "text": " \n\t"}, "no text: field 'text' is empty"),
        ({"id": "x", "text": None}, "no text: none of the fields 'text', 'contents' is present"),
        ({"id": "x", "text": ["a"]}, "field 'text' is an array, not a string or number"),
        ({"id": {"n": 1}, "text": "t"}, "field 'id' is an object, not a string or number"),
    ],
)
def test_record_without_usable_text_or_id(tmp_path: Path, record: dict[str, object], reason: str) -> None:
    path = write(tmp_path / "dump.jsonl", jsonl_bytes([RECORDS[0], record]))

    error = raises_data_error(path)

    assert str(error) == f"{path}:2: {reason}"


def test_csv_record_without_text(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.csv", "id,text\na,Alpha\nb,\n")

    assert str(raises_data_error(path)) == f"{path}:3: no text: field 'text' is empty"


@pytest.mark.parametrize("compression", ["", ".gz"])
def test_non_utf8_line_number_and_column(tmp_path: Path, compression: str) -> None:
    data = jsonl_bytes(RECORDS) + b'{"id": "c", \xff "text": "x"}\n'
    path = write(tmp_path / f"dump.jsonl{compression}", COMPRESSORS[compression](data))

    error = raises_data_error(path)

    assert (error.source, error.line) == (str(path), 3)
    assert str(error).endswith("not valid UTF-8 (byte 0xff at column 13)")


def test_non_utf8_in_csv_and_text_file(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "dump.csv", b"id,text\na,fine\nb,caf\xe9\n")
    root = tmp_path / "docs"
    root.mkdir()
    text_path = write(root / "latin1.txt", b"line one\nline two caf\xe9\n")

    csv_error = raises_data_error(csv_path)
    text_error = raises_data_error(root)

    assert (csv_error.line, "byte 0xe9 at column 6" in str(csv_error)) == (3, True)
    assert (text_error.source, text_error.line) == (str(text_path), 2)
    assert "byte 0xe9 at column 13" in str(text_error)


def test_csv_header_without_text_column(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.csv", "id,title,body\na,Alpha,Alpha text\n")

    error = raises_data_error(path)

    assert error.line == 1
    assert "header has no text column ('text', 'contents'); columns: 'id', 'title', 'body'" in str(error)


def test_csv_header_problem_raises_even_with_skip_invalid(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.tsv", "id\tbody\na\tAlpha\n")

    assert raises_data_error(path, skip_invalid=True).line == 1


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_dump_is_an_error(tmp_path: Path, content: str) -> None:
    path = write(tmp_path / "dump.jsonl", content)

    error = raises_data_error(path)

    assert str(error) == f"no documents found in {path}"


def test_empty_directory_and_header_only_csv(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    csv_path = write(tmp_path / "dump.csv", "id,text\n")

    with pytest.raises(InputDataError, match="no documents found in"):
        read_all(root, csv_path)


def test_empty_text_file_in_directory(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    write(root / "blank.md", "# Only a title\n")

    error = raises_data_error(root)

    assert (error.source, error.line) == (str(root / "blank.md"), 1)


def test_missing_path(tmp_path: Path) -> None:
    present = write(tmp_path / "dump.jsonl", jsonl_bytes(RECORDS))
    missing = tmp_path / "nope.jsonl"

    with pytest.raises(InputNotFoundError, match=r"nope\.jsonl: no such file or directory") as info:
        next(read_documents([present, missing]))  # checked before the first document is read
    assert info.value.exit_code == 66


@pytest.mark.parametrize("name", ["dump.parquet", "dump.txt", "dump.gz", "dump"])
def test_unsupported_suffix(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, b"x")

    with pytest.raises(InputNotFoundError, match=r"unsupported input format; supported: \.jsonl, \.ndjson"):
        detect_format(path)


def test_corrupt_compressed_file(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.jsonl.gz", b"this is not gzip data\n")

    with pytest.raises(InputDataError, match="cannot read gzip data"):
        read_all(path)


# --- skip_invalid ---------------------------------------------------------------------------------


def test_skip_invalid_skips_counts_and_records_examples(tmp_path: Path) -> None:
    lines = [
        json.dumps(RECORDS[0]).encode(),
        b"{not json",
        b"[1, 2]",
        b'{"id": "x"}',
        b'{"id": "y", "text": "caf\xe9"}',
        json.dumps(RECORDS[1]).encode(),
    ]
    path = write(tmp_path / "dump.jsonl", b"\n".join(lines))
    stats: list[SourceStats] = []

    docs = read_all(path, skip_invalid=True, stats=stats)

    assert [d.doc_id for d in docs] == ["a", "b"]
    assert (stats[0].records, stats[0].skipped) == (2, 4)
    assert [example["line"] for example in stats[0].skipped_examples] == [2, 3, 4, 5]
    reasons = [str(example["reason"]) for example in stats[0].skipped_examples]
    assert reasons[0].startswith("malformed JSON")
    assert "not an object" in reasons[1]
    assert reasons[2].startswith("no text")
    assert reasons[3].startswith("not valid UTF-8")


def test_skip_invalid_keeps_only_the_first_examples(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.jsonl", b"{bad\n" * 30 + jsonl_bytes(RECORDS))
    stats: list[SourceStats] = []

    docs = read_all(path, skip_invalid=True, stats=stats)

    assert len(docs) == 2
    assert stats[0].skipped == 30
    assert len(stats[0].skipped_examples) == MAX_SKIPPED_EXAMPLES
    assert stats[0].skipped_examples[-1]["line"] == MAX_SKIPPED_EXAMPLES


def test_skip_invalid_in_csv_and_directory(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "dump.csv", b"id,text\na,ok\nb,\nc,caf\xe9\nd,fine\n")
    root = tmp_path / "docs"
    root.mkdir()
    write(root / "good.txt", "Good.")
    write(root / "bad.txt", b"\xff")
    stats: list[SourceStats] = []

    docs = read_all(csv_path, root, skip_invalid=True, stats=stats)

    assert [(d.doc_id, d.line) for d in docs] == [("a", 2), ("d", 5), ("good.txt", 1)]
    assert [s.skipped for s in stats] == [2, 1]
    assert [e["line"] for e in stats[0].skipped_examples] == [3, 4]
    assert stats[1].skipped_examples[0]["file"] == str(root / "bad.txt")


def test_skip_invalid_with_nothing_valid_is_still_an_empty_dump(tmp_path: Path) -> None:
    path = write(tmp_path / "dump.jsonl", b"{bad\n[]\n")

    error = raises_data_error(path, skip_invalid=True)

    assert str(error) == f"no documents found in {path} (2 invalid records skipped)"


# --- symbolic links and a root --------------------------------------------------------------------


def _linked_directory(tmp_path: Path) -> tuple[Path, Path]:
    """A root whose directory `docs` holds a text file and a link to a file outside the root."""
    secret = write(tmp_path / "secret.txt", "the secret outside the root")
    root = tmp_path / "root"
    (root / "docs" / "sub").mkdir(parents=True)
    write(root / "docs" / "ok.txt", "A file that stays inside.")
    write(root / "docs" / "sub" / "inside.md", "# Inside\nAnother one.")
    (root / "docs" / "evil.txt").symlink_to(secret)
    return root, secret


def test_a_root_refuses_a_directory_file_that_links_out(tmp_path: Path) -> None:
    root, _ = _linked_directory(tmp_path)
    with pytest.raises(PathOutsideRootError, match=r"docs/evil.txt: a symbolic link to a file outside"):
        next(read_documents([root / "docs"], root=root))  # before the first document is read
    assert [d.doc_id for d in read_all(root / "docs" / "sub", root=root)] == ["inside.md"]


def test_a_root_allows_links_that_stay_inside_and_reads_them_where_they_resolve(tmp_path: Path) -> None:
    root, _ = _linked_directory(tmp_path)
    (root / "docs" / "evil.txt").unlink()
    (root / "docs" / "alias.txt").symlink_to(root / "docs" / "sub" / "inside.md")
    docs = read_all(root / "docs", root=root)
    assert [d.doc_id for d in docs] == ["alias.txt", "ok.txt", "sub/inside.md"]
    assert "Another one." in docs[0].text


def test_a_root_refuses_an_input_that_links_out(tmp_path: Path) -> None:
    root, _ = _linked_directory(tmp_path)
    dump = write(tmp_path / "outside.jsonl", jsonl_bytes(RECORDS))
    (root / "dump.jsonl").symlink_to(dump)
    with pytest.raises(PathOutsideRootError):
        read_all(root / "docs" / "sub", root / "dump.jsonl", root=root)
    with pytest.raises(PathOutsideRootError):
        read_all(dump, root=root)


def test_without_a_root_links_are_followed_as_before(tmp_path: Path) -> None:
    root, secret = _linked_directory(tmp_path)
    (root / "docs" / "linked-dir").symlink_to(tmp_path, target_is_directory=True)  # folders: never entered
    docs = read_all(root / "docs")
    assert [d.doc_id for d in docs] == ["evil.txt", "ok.txt", "sub/inside.md"]
    assert docs[0].text == secret.read_text()


def test_a_root_names_an_input_elsewhere_as_outside(tmp_path: Path) -> None:
    root, _ = _linked_directory(tmp_path)
    dump = write(tmp_path / "elsewhere.jsonl", jsonl_bytes(RECORDS))
    with pytest.raises(PathOutsideRootError, match=r"elsewhere.jsonl: outside .*root \(refused\)"):
        read_all(dump, root=root)
