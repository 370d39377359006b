"""Request and response models of POST /v1/search."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from kg.graph_search import ALL_MODES
from workers.payloads import IndexName, choice_of

if TYPE_CHECKING:
    SearchModeName = str
else:
    SearchModeName = choice_of(ALL_MODES)  # kg.graph_search.ALL_MODES, an enum in the schema


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # `"k": "5"` or `"k": true` is a 422, not 5 or 1

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
