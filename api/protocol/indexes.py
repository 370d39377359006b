"""Request and response models of /v1/indexes and /v1/uploads."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workers.payloads import DocumentPayload, IndexName, IndexOptions


class SourceRef(BaseModel):
    """Where documents come from: a path under the server's data root, or an upload's id (exactly one)."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, min_length=1, max_length=1024, description="relative to the data root")
    upload: str | None = Field(default=None, min_length=1, max_length=64, description="an id from POST /v1/uploads")

    @model_validator(mode="after")
    def _one(self) -> SourceRef:
        if (self.path is None) == (self.upload is None):
            raise ValueError("give exactly one of path and upload")
        return self


class IndexCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: IndexName
    source: SourceRef
    options: IndexOptions = Field(default_factory=IndexOptions)
    overwrite: bool = False


class DocumentsAddRequest(BaseModel):
    """New documents, inline or from a source (exactly one)."""

    model_config = ConfigDict(extra="forbid")

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
