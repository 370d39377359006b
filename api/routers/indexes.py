"""/v1/indexes: build, list, inspect, delete, add documents, read a passage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.deps import ContextDep, PrincipalDep
from api.errors import ERROR_RESPONSES
from api.protocol.indexes import DocumentsAddRequest, IndexCreateRequest, IndexDetail, IndexList, PassageDetail
from api.protocol.jobs import JobAccepted
from api.serving import indexes as serving
from api.serving import passages

router = APIRouter(prefix="/v1/indexes", tags=["indexes"], responses=ERROR_RESPONSES)


@router.post(
    "", status_code=202, response_model=JobAccepted, summary="Build an index from a data-root path or an upload"
)
def create_index(
    request: IndexCreateRequest, context: ContextDep, principal: PrincipalDep, response: Response
) -> JobAccepted:
    accepted = serving.create(context, principal, request)
    response.headers["Location"] = accepted.links.self
    return accepted


@router.get("", response_model=IndexList, summary="The indexes this key may read")
async def list_indexes(context: ContextDep, principal: PrincipalDep) -> IndexList:
    return await serving.listing(context, principal)


@router.get("/{name}", response_model=IndexDetail, summary="One index: counts and its manifest")
def get_index(name: str, context: ContextDep, principal: PrincipalDep) -> IndexDetail:
    return serving.info(context, principal, name)


@router.delete("/{name}", status_code=204, response_class=Response, summary="Delete an index (admin scope)")
def delete_index(name: str, context: ContextDep, principal: PrincipalDep) -> Response:
    serving.delete(context, principal, name)
    return Response(status_code=204)


@router.post(
    "/{name}/documents",
    status_code=202,
    response_model=JobAccepted,
    summary="Add documents to an index (BM25, FAISS and the graph, without a full rebuild)",
)
def add_documents(
    name: str, request: DocumentsAddRequest, context: ContextDep, principal: PrincipalDep, response: Response
) -> JobAccepted:
    accepted = serving.add_documents(context, principal, name, request)
    response.headers["Location"] = accepted.links.self
    return accepted


@router.get(
    "/{name}/passages/{passage_id}",
    response_model=PassageDetail,
    summary="One passage: its text in sentences, the one supporting a claim marked",
)
async def get_passage(
    name: str,
    passage_id: Annotated[str, Path(max_length=128)],
    context: ContextDep,
    principal: PrincipalDep,
    claim: Annotated[str, Query(max_length=2000, description="a claim the passage is cited for")] = "",
    answer: Annotated[str, Query(max_length=500, description="the words the supporting sentence should hold")] = "",
) -> PassageDetail:
    return await passages.passage(context, principal, name, passage_id, claim, answer)
