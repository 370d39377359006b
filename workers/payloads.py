"""Task payloads: what the API hands a worker, validated on both sides. Paths in them are resolved and
confined by the API already; workers check the index name again."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from retrieval.bm25_index import BM25Config
from retrieval.builder import BuildOptions
from retrieval.dense_index import DenseIndexConfig
from retrieval.documents import Document
from retrieval.readers import FieldMapping
from workers.paths import INDEX_NAME_PATTERN

IndexName = Annotated[str, Field(pattern=INDEX_NAME_PATTERN, description="index name: a-z, 0-9, '-', '_'")]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AskPayload(_Payload):
    question: str
    index: IndexName
    method: str = "sleuth"
    budget: str = "fast"
    overrides: dict[str, int | bool | str] = Field(default_factory=dict)
    trace: bool = False


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
    faiss: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    bm25_method: Literal["robertson", "lucene", "atire", "bm25l", "bm25+"] = "lucene"

    def fields(self) -> FieldMapping:
        return FieldMapping(id=self.id_field, title=self.title_field, text=self.text_field)

    def build_options(self) -> BuildOptions:
        return BuildOptions(
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
