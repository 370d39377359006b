"""Task payloads: what the API hands a worker, validated on both sides. Paths in them are resolved and
confined by the API already; workers check the index name again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reasoning.budget import DEFAULT_BUDGET
from retrieval.bm25_index import METHODS as BM25_METHODS
from retrieval.bm25_index import BM25Config
from retrieval.builder import BuildOptions
from retrieval.dense_index import KINDS as DENSE_KINDS
from retrieval.dense_index import DenseIndexConfig
from retrieval.documents import Document
from retrieval.readers import FieldMapping
from workers.paths import INDEX_NAME_PATTERN

IndexName = Annotated[str, Field(pattern=INDEX_NAME_PATTERN, description="index name: a-z, 0-9, '-', '_'")]


def choice_of(values: tuple[str, ...]) -> Any:
    """`Literal[...]` of a library's tuple of names, so a model's schema lists them (for a type checker: str)."""
    return Literal[values]


if TYPE_CHECKING:
    FaissKind = str
    BM25Method = str
else:
    FaissKind = choice_of(DENSE_KINDS)
    BM25Method = choice_of(BM25_METHODS)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AskPayload(_Payload):
    question: str
    index: IndexName
    method: str = "sleuth"
    budget: str = DEFAULT_BUDGET
    overrides: dict[str, int | bool | str] = Field(default_factory=dict)
    trace: bool = False
    notes: list[str] = Field(default_factory=list)  # what the API chose for the request (e.g. budget_tokens)


class IndexOptions(_Payload):
    """How to build an index (the options of `sleuth index build`)."""

    kg: bool = Field(default=True, description="build the knowledge graph")
    kg_synonyms: Literal["surface", "embedder"] = "surface"
    skip_invalid: bool = False
    id_field: str = Field(default="id", min_length=1, max_length=64)
    title_field: str = Field(default="title", min_length=1, max_length=64)
    text_field: str = Field(default="text", min_length=1, max_length=64)
    max_passage_tokens: int | None = Field(default=None, ge=32, le=8192)
    overlap_tokens: int = Field(default=32, ge=0, le=1024)
    faiss: FaissKind = "auto"  # retrieval.dense_index.KINDS
    bm25_method: BM25Method = "lucene"  # retrieval.bm25_index.METHODS

    def fields(self) -> FieldMapping:
        return FieldMapping(id=self.id_field, title=self.title_field, text=self.text_field)

    def build_options(self, root: Path | None = None) -> BuildOptions:
        """The builder's options; `root` (the data root) confines the sources, as the API did when it
        accepted them, so that a link placed since is refused too."""
        return BuildOptions(
            root=root,
            fields=self.fields(),
            skip_invalid=self.skip_invalid,
            max_passage_tokens=self.max_passage_tokens,
            overlap_tokens=self.overlap_tokens,
            bm25=BM25Config(method=self.bm25_method),
            dense=DenseIndexConfig(kind=self.faiss),
        )


class BuildPayload(_Payload):
    index: IndexName
    sources: list[str] = Field(min_length=1)  # absolute paths, confined to the data root by the API
    options: IndexOptions = Field(default_factory=IndexOptions)
    overwrite: bool = False


class DocumentPayload(_Payload):
    id: str = Field(min_length=1, max_length=512)
    title: str = Field(default="", max_length=1000)
    text: str = Field(min_length=1, max_length=1_000_000)

    def document(self, line: int) -> Document:
        return Document(doc_id=self.id, title=self.title, text=self.text, source="api", line=line)


class AddDocumentsPayload(_Payload):
    index: IndexName
    documents: list[DocumentPayload] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)  # absolute paths, confined by the API
    options: IndexOptions = Field(default_factory=IndexOptions)  # fields and skip_invalid for sources
