"""POST /v1/search."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ContextDep, PrincipalDep
from api.errors import ERROR_RESPONSES
from api.protocol.search import SearchRequest, SearchResponse
from api.serving import search as serving

router = APIRouter(prefix="/v1", tags=["search"], responses=ERROR_RESPONSES)


@router.post(
    "/search", response_model=SearchResponse, summary="Search an index (bm25, dense, hybrid, graph, hybrid+graph)"
)
async def search(request: SearchRequest, context: ContextDep, principal: PrincipalDep) -> SearchResponse:
    return await serving.search(context, principal, request)
