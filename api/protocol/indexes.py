"""Request and response models of /v1/indexes and /v1/uploads."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from retrieval.readers import SUPPORTED_FORMATS
from workers.payloads import DocumentPayload, IndexName
from workers.payloads import IndexOptions as PayloadOptions


def exactly_one(fields: dict[str, str]) -> dict[str, Any]:
    """A JSON Schema `oneOf` that states "exactly one of these fields" (each given with its JSON type): in
    each branch one is required and of its type, the others absent or null."""
    return {"oneOf": [_only(given, fields) for given in fields]}


def _only(given: str, fields: dict[str, str]) -> dict[str, Any]:
    types = {name: kind if name == given else "null" for name, kind in fields.items()}
    return {"required": [given], "properties": {name: {"type": kind} for name, kind in types.items()}}


class IndexOptions(PayloadOptions):
    """How to build an index (the options of `sleuth index build`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # `"kg": "false"` is a 422, not False


class SourceRef(BaseModel):
    """Where documents come from, exactly one of `path` and `upload`: a path under the server's data root,
    or an upload's id."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra=exactly_one({"path": "string", "upload": "string"})
    )

    path: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description=f"relative to the data root (not with upload): {SUPPORTED_FORMATS}",
    )
    upload: str | None = Field(
        default=None, min_length=1, max_length=64, description="an id from POST /v1/uploads (not with path)"
    )

    @model_validator(mode="after")
    def _one(self) -> SourceRef:
        if (self.path is None) == (self.upload is None):
            raise ValueError("give exactly one of path and upload")
        return self


class IndexCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: IndexName
    source: SourceRef
    options: IndexOptions = Field(default_factory=IndexOptions)
    overwrite: bool = False


class DocumentsAddRequest(BaseModel):
    """New documents, inline or from a source: exactly one of `documents` and `source`."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra=exactly_one({"documents": "array", "source": "object"})
    )

    documents: list[DocumentPayload] | None = Field(default=None, min_length=1)
    source: SourceRef | None = None
    options: IndexOptions = Field(default_factory=IndexOptions, description="fields and skip_invalid for a source")

    @model_validator(mode="after")
    def _one(self) -> DocumentsAddRequest:
        if (self.documents is None) == (self.source is None):
            raise ValueError("give exactly one of documents and source")
        return self


class IndexInfo(BaseModel):
    name: str
    documents: int
    passages: int
    embedder: str
    graph: bool
    created_at: str
    updated_at: str | None = None
    updates: int = 0


class IndexDetail(IndexInfo):
    manifest: dict[str, Any]


class IndexList(BaseModel):
    indexes: list[IndexInfo]


class UploadResponse(BaseModel):
    upload_id: str
    filename: str
    bytes: int


class SentenceSpan(BaseModel):
    start: int = Field(description="offset of the sentence's first character in the passage text")
    end: int = Field(description="offset just past its last character")
    supporting: bool = Field(description="the sentence that best supports the claim asked about")


class PassageDetail(BaseModel):
    """One passage of an index, split into sentences; with a claim, the sentence that supports it marked."""

    passage_id: str
    doc_id: str
    title: str
    text: str
    sentences: list[SentenceSpan]
