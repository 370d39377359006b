"""/v1/indexes: build (a job), list, inspect, delete, and add documents (a job) — each checked against the
key's scopes: reading needs read access, adding documents write access, building and deleting the admin
scope as well. An index the key may not read reads as not found."""

from __future__ import annotations

import asyncio
from pathlib import Path

from api.context import ServiceContext
from api.errors import ApiError, not_found
from api.protocol.indexes import (
    DocumentsAddRequest,
    IndexCreateRequest,
    IndexDetail,
    IndexInfo,
    IndexList,
    SourceRef,
)
from api.protocol.jobs import JobAccepted
from api.public_paths import public_paths
from api.security import Principal
from api.serving.ask import submit
from retrieval.errors import InputNotFoundError
from retrieval.readers import text_files
from workers.paths import INDEX_NAME, UPLOADS_DIR, ForbiddenPathError, confine
from workers.payloads import AddDocumentsPayload, BuildPayload


def resolve_source(context: ServiceContext, principal: Principal, source: SourceRef) -> Path:
    """A server-side path confined to the data root, or the file of one of this key's uploads."""
    if source.upload is not None:
        return context.runtime.uploads.resolve(source.upload, principal.id)
    assert source.path is not None
    data_root = context.settings.worker.data_root
    try:
        path = confine(data_root, source.path)
        if path.is_dir():
            check_directory(data_root.expanduser().resolve(), path, source.path)
    except OSError as exc:  # a name too long, a folder that may not be listed, a link loop
        raise InputNotFoundError(f"source path {source.path!r} cannot be read: {exc.strerror or exc}") from None
    return path


def check_directory(root: Path, directory: Path, given: str) -> None:
    """Every file a directory source would be read from must resolve inside the data root and outside its
    uploads (a symbolic link to a file elsewhere is refused, as the source path itself would be)."""
    uploads = root / UPLOADS_DIR
    for path in text_files(directory):
        target = path.resolve()
        inside = target == root or root in target.parents
        if not inside or uploads in target.parents:
            where = "outside the data root" if not inside else "into the uploads"
            shown = path.relative_to(root).as_posix()
            raise ForbiddenPathError(f"source path {given!r} holds {shown!r}, a symbolic link {where}")


def create(context: ServiceContext, principal: Principal, request: IndexCreateRequest) -> JobAccepted:
    if not principal.can_manage(request.name):
        if principal.can_read(request.name):
            raise ApiError(403, "forbidden", f"this key may not build index {request.name!r} (admin scope needed)")
        raise ApiError(403, "forbidden", f"this key may not build index {request.name!r}")
    if context.runtime.registry.exists(request.name) and not request.overwrite:
        raise ApiError(409, "conflict", f"index {request.name!r} exists (set overwrite to replace it)")
    source = resolve_source(context, principal, request.source)
    payload = BuildPayload(
        index=request.name, sources=[str(source)], options=request.options, overwrite=request.overwrite
    )
    return JobAccepted.of(submit(context, principal, "build", request.name, payload.model_dump()))


def info(context: ServiceContext, principal: Principal, name: str) -> IndexDetail:
    readable(context, principal, name)
    registry = context.runtime.registry
    summary = registry.summary(name)
    manifest = public_paths(context.settings).json(registry.manifest(name))  # sources relative to the data root
    return IndexDetail(**summary.__dict__, manifest=manifest)


async def listing(context: ServiceContext, principal: Principal) -> IndexList:
    registry = context.runtime.registry

    def run() -> IndexList:
        names = [n for n in registry.names() if principal.can_read(n)]
        return IndexList(indexes=[IndexInfo(**registry.summary(n).__dict__) for n in names])

    return await asyncio.to_thread(run)


def delete(context: ServiceContext, principal: Principal, name: str) -> None:
    readable(context, principal, name)
    if not principal.can_manage(name):
        raise ApiError(403, "forbidden", f"this key may not delete index {name!r} (admin scope needed)")
    context.runtime.registry.delete(name)
    context.runtime.forget_index(name)


def add_documents(
    context: ServiceContext, principal: Principal, name: str, request: DocumentsAddRequest
) -> JobAccepted:
    readable(context, principal, name)
    if not principal.can_write(name):
        raise ApiError(403, "forbidden", f"this key may not write to index {name!r}")
    limits = context.settings.limits
    if request.documents is not None and len(request.documents) > limits.max_documents:
        raise ApiError(413, "too_large", f"{len(request.documents)} documents; the limit is {limits.max_documents}")
    sources = [str(resolve_source(context, principal, request.source))] if request.source else []
    payload = AddDocumentsPayload(
        index=name, documents=request.documents or [], sources=sources, options=request.options
    )
    return JobAccepted.of(submit(context, principal, "add_documents", name, payload.model_dump()))


def readable(context: ServiceContext, principal: Principal, name: str) -> None:
    if not INDEX_NAME.match(name) or not principal.can_read(name) or not context.runtime.registry.exists(name):
        raise not_found(f"index {name!r}")
