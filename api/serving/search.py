"""POST /v1/search: one search mode over one index, in this process (the embedder loads once here)."""

from __future__ import annotations

import asyncio

from api.context import ServiceContext
from api.errors import not_found
from api.protocol.search import SearchHit, SearchRequest, SearchResponse
from api.security import Principal


async def search(context: ServiceContext, principal: Principal, request: SearchRequest) -> SearchResponse:
    if not principal.can_read(request.index) or not context.runtime.registry.exists(request.index):
        raise not_found(f"index {request.index!r}")
    k = min(request.k, context.settings.limits.max_k)
    runtime = context.runtime

    def run() -> SearchResponse:
        directory = runtime.index_dir(request.index)
        result = runtime.system.search(request.query, directory, mode=request.mode, k=k)
        hits = [SearchHit.model_validate(hit.to_json()) for hit in result.hits]
        return SearchResponse(index=request.index, mode=request.mode, hits=hits, seconds=round(result.seconds, 6))

    return await asyncio.to_thread(run)
