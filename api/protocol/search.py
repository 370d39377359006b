"""Request and response models of POST /v1/search."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from workers.payloads import IndexName

SearchModeName = Literal["bm25", "dense", "hybrid", "graph", "hybrid+graph"]  # kg.graph_search.ALL_MODES


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=2000)
    index: IndexName
    mode: SearchModeName = "hybrid"
    k: int = Field(default=10, ge=1, le=10_000, description="hits to return (the service caps it)")


class SearchHit(BaseModel):
    id: str
    doc_id: str
    title: str
    text: str
    score: float
    rank: int


class SearchResponse(BaseModel):
    index: str
    mode: str
    hits: list[SearchHit]
    seconds: float
