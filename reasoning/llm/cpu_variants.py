"""Which of llama.cpp's CPU builds runs on this CPU.

`make install` and the Dockerfile build llama-cpp-python with `GGML_BACKEND_DL` and `GGML_CPU_ALL_VARIANTS`:
llama.cpp's CPU code is compiled once per instruction-set level (x64, sse42, haswell, skylakex, icelake,
zen4, sapphirerapids, ...) into `libggml-cpu-<variant>.so` files beside `libllama.so`, and none is linked in.
Before the first model loads, `load_cpu_variant` loads the best one this CPU runs: the variant whose
instruction sets the kernel reports in /proc/cpuinfo, AMX only where the kernel also grants the tile state
to this process (arch_prctl ARCH_REQ_XCOMP_PERM): on some virtual machines the CPU reports AMX that the
hypervisor does not grant, and AMX code dies there with a general protection fault. llama.cpp's own
choice (`ggml_backend_load_all`) reads CPUID alone and would pick AMX on them.

`SLEUTH_LLAMA_CPU=<variant>` forces one (e.g. `haswell`, the AVX2 build, to measure against); a variant
the CPU cannot run is refused. A build with its CPU code linked in (an older install, `GGML_BACKEND_DL`
off) needs nothing loaded and is reported as `built-in`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.cpu_features import cpu_flags
from retrieval.errors import ConfigError, DependencyError

log = logging.getLogger(__name__)

VARIANT_ENV = "SLEUTH_LLAMA_CPU"
BUILT_IN = "built-in"
_AVX512 = ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")
_HASWELL = ("sse4_2", "avx", "f16c", "fma", "avx2", "bmi2")

# llama.cpp's x86 variants (ggml/src/CMakeLists.txt, GGML_CPU_ALL_VARIANTS) by the /proc/cpuinfo flags each
# needs, best first: the first one present that the CPU runs is loaded.
X86_VARIANTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sapphirerapids", (*_HASWELL, *_AVX512, "avx512vbmi", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8")),
    ("zen4", (*_HASWELL, *_AVX512, "avx512vbmi", "avx512_vnni", "avx512_bf16")),
    ("cooperlake", (*_HASWELL, *_AVX512, "avx512_vnni", "avx512_bf16")),
    ("icelake", (*_HASWELL, *_AVX512, "avx512vbmi", "avx512_vnni")),
    ("cascadelake", (*_HASWELL, *_AVX512, "avx512_vnni")),
    ("cannonlake", (*_HASWELL, *_AVX512, "avx512vbmi")),
    ("skylakex", (*_HASWELL, *_AVX512)),
    ("alderlake", (*_HASWELL, "avx_vnni")),
    ("haswell", _HASWELL),
    ("piledriver", ("sse4_2", "avx", "f16c", "fma")),
    ("ivybridge", ("sse4_2", "avx", "f16c")),
    ("sandybridge", ("sse4_2", "avx")),
    ("sse42", ("sse4_2",)),
    ("x64", ()),
)
_AMX_FLAGS = frozenset({"amx_tile", "amx_int8"})

_ARCH_REQ_XCOMP_PERM = 0x1023
_XFEATURE_XTILEDATA = 18
_SYS_ARCH_PRCTL = 158  # x86-64


@dataclass(frozen=True)
class CpuVariant:
    name: str  # the variant loaded, or BUILT_IN
    path: Path | None  # its library (None for BUILT_IN)
    reason: str  # why this one, for logs and benchmarks


_loaded: dict[Path, CpuVariant] = {}  # by the build's lib folder: one load per build and process
_lock = threading.Lock()


def amx_granted() -> bool:
    """Whether the kernel lets this process use AMX tiles (it must be asked, once, before the first use)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.syscall(_SYS_ARCH_PRCTL, _ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA)) == 0
    except (OSError, AttributeError):
        return False


def runnable(required: Iterable[str], flags: frozenset[str], amx: bool) -> bool:
    needed = set(required)
    return needed <= flags and (amx or not needed & _AMX_FLAGS)


def choose_variant(available: Iterable[str], flags: frozenset[str], amx: bool, forced: str | None = None) -> str:
    """The variant to load among `available`: `forced` if the CPU runs it, else the best it runs."""
    present = set(available)
    requirements = dict(X86_VARIANTS)
    if forced:
        if forced not in present:
            built = ", ".join(sorted(present))
            raise ConfigError(f"{VARIANT_ENV}={forced}: no such llama.cpp CPU build here; built: {built}")
        if forced in requirements and not runnable(requirements[forced], flags, amx):
            raise ConfigError(f"{VARIANT_ENV}={forced}: this CPU lacks its instructions")
        return forced
    for name, required in X86_VARIANTS:
        if name in present and runnable(required, flags, amx):
            return name
    raise DependencyError(f"none of llama.cpp's CPU builds ({', '.join(sorted(present))}) runs on this CPU")


def variant_libraries(*directories: Path) -> dict[str, Path]:
    """The CPU variant libraries of a GGML_BACKEND_DL build, by variant name (the first found of each)."""
    prefix, suffix = "libggml-cpu-", ".so"
    found: dict[str, Path] = {}
    for directory in directories:
        for path in sorted(directory.glob(f"{prefix}*{suffix}")):
            if path.is_file():
                found.setdefault(path.name[len(prefix) : -len(suffix)], path)
    return found


def load_cpu_variant(lib_dir: Path, llama: Any = None) -> CpuVariant:
    """Load the CPU code of the llama.cpp build in `lib_dir` (llama_cpp/lib) once per process, and say
    which; a build with its CPU code linked in (libggml-cpu.so) loads nothing. llama-cpp-python's wheel
    puts the variant libraries in the `bin` folder beside the package (site-packages/bin). `llama` is the
    loaded libllama (a ctypes library): the variant must register with the very libggml it uses (the wheel
    holds copies of libggml under several names, and a copy loaded by another name has its own registry)."""
    with _lock:
        if lib_dir in _loaded:
            return _loaded[lib_dir]
        if (lib_dir / "libggml-cpu.so").exists():
            _loaded[lib_dir] = CpuVariant(BUILT_IN, None, "llama.cpp built with its CPU code linked in")
            return _loaded[lib_dir]
        libraries = variant_libraries(lib_dir, lib_dir.parent.parent / "bin")
        if not libraries:
            raise DependencyError(
                f"llama.cpp in {lib_dir.parent} has neither its CPU code linked in nor CPU builds to load "
                "(libggml-cpu-*.so): reinstall llama-cpp-python (make install)"
            )
        flags = cpu_flags()
        amx = flags >= _AMX_FLAGS and amx_granted()
        forced = os.environ.get(VARIANT_ENV, "").strip() or None
        name = choose_variant(libraries, flags, amx, forced)
        ggml = llama if llama is not None else ctypes.CDLL(str(lib_dir / "libggml.so.0"))
        backend_load = ggml.ggml_backend_load  # through libllama's handle: found in the libggml it links
        backend_load.restype = ctypes.c_void_p
        backend_load.argtypes = [ctypes.c_char_p]
        if not backend_load(str(libraries[name]).encode()):
            raise DependencyError(f"llama.cpp could not load its CPU build {libraries[name]}")
        reason = f"forced by {VARIANT_ENV}" if forced else f"the best of {len(libraries)} builds this CPU runs"
        if not forced and flags >= _AMX_FLAGS and not amx:
            reason += " (the CPU reports AMX, but the kernel does not grant it)"
        _loaded[lib_dir] = CpuVariant(name, libraries[name], reason)
        log.info("llama.cpp CPU build: %s (%s)", name, reason)
        return _loaded[lib_dir]
