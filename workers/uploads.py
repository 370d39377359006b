"""Uploaded document dumps: stored under `<data root>/uploads/<id>/`, owned by the key that sent them.

A client names an upload by its id only (never by path); the file name it gave is reduced to a safe
base name that keeps the suffix the readers detect the format by (.jsonl, .csv.gz, ...).
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import ConfigError, InputNotFoundError
from workers.paths import UPLOADS_DIR

UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
ALLOWED_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")
COMPRESSIONS = ("", ".gz", ".bz2", ".xz")
_META = "upload.json"


@dataclass(frozen=True)
class Upload:
    id: str
    owner: str
    filename: str
    path: Path
    bytes: int


def safe_filename(name: str) -> str:
    base = _SAFE.sub("_", Path(name.replace("\\", "/")).name).lstrip(".") or "upload.jsonl"
    lowered = base.lower()
    if not any(lowered.endswith(s + c) for s in ALLOWED_SUFFIXES for c in COMPRESSIONS):
        raise ConfigError(
            f"upload file name {name!r} must end in one of {', '.join(ALLOWED_SUFFIXES)} "
            f"(optionally {', '.join(c for c in COMPRESSIONS if c)})"
        )
    return base[:128]


class UploadArea:
    def __init__(self, data_root: Path) -> None:
        self.root = data_root.expanduser().resolve() / UPLOADS_DIR

    def reserve(self, owner: str, filename: str) -> Upload:
        """A new, empty upload slot; the caller writes `path` then calls `commit`."""
        upload_id = uuid.uuid4().hex
        directory = self.root / upload_id
        directory.mkdir(parents=True, exist_ok=False)
        return Upload(upload_id, owner, safe_filename(filename), directory / safe_filename(filename), 0)

    def commit(self, upload: Upload, size: int) -> Upload:
        meta = {"owner": upload.owner, "filename": upload.filename, "bytes": size}
        (upload.path.parent / _META).write_text(json.dumps(meta), encoding="utf-8")
        return Upload(upload.id, upload.owner, upload.filename, upload.path, size)

    def discard(self, upload: Upload) -> None:
        shutil.rmtree(upload.path.parent, ignore_errors=True)

    def resolve(self, upload_id: str, owner: str) -> Path:
        """The file of an upload that `owner` sent; unknown or foreign ids read as not found."""
        if not UPLOAD_ID.match(upload_id):
            raise InputNotFoundError(f"no upload {upload_id!r}")
        directory = self.root / upload_id
        try:
            meta = json.loads((directory / _META).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raise InputNotFoundError(f"no upload {upload_id!r}") from None
        if meta.get("owner") != owner:
            raise InputNotFoundError(f"no upload {upload_id!r}")
        return directory / str(meta["filename"])
