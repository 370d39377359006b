"""Choosing llama.cpp's CPU build: the best this CPU runs, AMX only where granted, a forced one checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from reasoning.llm import cpu_variants
from reasoning.llm.cpu_variants import X86_VARIANTS, choose_variant, runnable, variant_libraries
from retrieval.cpu_features import cpu_flags
from retrieval.errors import ConfigError, DependencyError

pytestmark = pytest.mark.unit

ALL = [name for name, _ in X86_VARIANTS]
HASWELL = frozenset({"sse4_2", "avx", "f16c", "fma", "avx2", "bmi2"})
AVX512 = frozenset({"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"})
ZEN4 = HASWELL | AVX512 | {"avx512vbmi", "avx512_vnni", "avx512_bf16"}
SAPPHIRE = ZEN4 | {"amx_tile", "amx_int8", "amx_bf16"}


def test_the_best_build_the_cpu_runs_is_chosen() -> None:
    assert choose_variant(ALL, HASWELL, amx=False) == "haswell"
    assert choose_variant(ALL, HASWELL | AVX512, amx=False) == "skylakex"
    assert choose_variant(ALL, ZEN4, amx=False) == "zen4"
    assert choose_variant(ALL, frozenset(), amx=False) == "x64"
    assert choose_variant(["x64", "haswell"], ZEN4, amx=False) == "haswell"  # only what was built


def test_amx_only_where_the_kernel_grants_it() -> None:
    assert choose_variant(ALL, SAPPHIRE, amx=True) == "sapphirerapids"
    assert choose_variant(ALL, SAPPHIRE, amx=False) == "zen4"  # reported by the CPU, not granted
    assert not runnable(dict(X86_VARIANTS)["sapphirerapids"], SAPPHIRE, amx=False)


def test_a_forced_build_must_exist_and_run_here() -> None:
    assert choose_variant(ALL, ZEN4, amx=False, forced="haswell") == "haswell"
    with pytest.raises(ConfigError, match="no such llama.cpp CPU build"):
        choose_variant(["x64"], ZEN4, amx=False, forced="haswell")
    with pytest.raises(ConfigError, match="lacks its instructions"):
        choose_variant(ALL, HASWELL, amx=False, forced="zen4")
    with pytest.raises(DependencyError, match="runs on this CPU"):
        choose_variant(["zen4"], HASWELL, amx=False)


def test_flags_and_libraries_are_read_from_files(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx avx2\nbugs\t\t: none\n")
    assert cpu_flags(cpuinfo) == {"fpu", "sse4_2", "avx", "avx2"}
    assert cpu_flags(tmp_path / "missing") == frozenset()
    for name in ("libggml-cpu-haswell.so", "libggml-cpu-x64.so", "libggml-base.so", "libllama.so"):
        (tmp_path / name).write_bytes(b"")
    assert sorted(variant_libraries(tmp_path)) == ["haswell", "x64"]


def test_a_build_with_its_cpu_code_linked_in_loads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_variants, "_loaded", {})
    (tmp_path / "libggml-cpu.so").write_bytes(b"")
    loaded = cpu_variants.load_cpu_variant(tmp_path)
    assert loaded.name == cpu_variants.BUILT_IN and loaded.path is None


def test_a_variant_build_without_its_libraries_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_variants, "_loaded", {})
    lib = tmp_path / "llama_cpp" / "lib"
    lib.mkdir(parents=True)
    with pytest.raises(DependencyError, match="neither its CPU code linked in nor CPU builds"):
        cpu_variants.load_cpu_variant(lib)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "libggml-cpu-x64.so").write_bytes(b"")
    assert variant_libraries(lib, tmp_path / "bin") == {"x64": tmp_path / "bin" / "libggml-cpu-x64.so"}
