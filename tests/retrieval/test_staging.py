from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.errors import OutputExistsError
from retrieval.staging import staged_directory

pytestmark = pytest.mark.unit


def _make(out: Path, content: str, *, overwrite: bool = False) -> None:
    with staged_directory(out, overwrite=overwrite, marker="manifest.json") as staging:
        (staging / "manifest.json").write_text(content)


def test_publishes_and_replaces_atomically(tmp_path: Path) -> None:
    out = tmp_path / "index"
    _make(out, "one")
    assert (out / "manifest.json").read_text() == "one"
    _make(out, "two", overwrite=True)
    assert (out / "manifest.json").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".index.lock", "index"]


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "index"
    _make(out, "one")
    with pytest.raises(OutputExistsError, match="already exists.*--overwrite"):
        _make(out, "two")
    assert (out / "manifest.json").read_text() == "one"


def test_never_overwrites_a_directory_that_is_not_an_index(tmp_path: Path) -> None:
    out = tmp_path / "documents"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="not a Sleuth index"):
        _make(out, "x", overwrite=True)
    assert (out / "precious.txt").read_text() == "keep me"


def test_failure_leaves_previous_index_and_no_temporary_files(tmp_path: Path) -> None:
    out = tmp_path / "index"
    _make(out, "one")
    with (
        pytest.raises(RuntimeError),
        staged_directory(out, overwrite=True, marker="manifest.json") as staging,
    ):
        (staging / "manifest.json").write_text("half")
        raise RuntimeError("boom")
    assert (out / "manifest.json").read_text() == "one"
    assert not list(tmp_path.glob(".index.building-*"))


def test_stale_staging_from_a_killed_build_is_removed(tmp_path: Path) -> None:
    stale = tmp_path / ".index.building-abc123"
    stale.mkdir()
    _make(tmp_path / "index", "one")
    assert not stale.exists()


def test_an_update_waits_for_the_running_build_and_a_second_build_does_not(tmp_path: Path) -> None:
    """Two builds of one index: the second fails at once (exit 73 on the CLI). An update (lock_wait_s) queues
    behind the build and publishes after it, never over a half-done one."""
    import threading
    import time

    out = tmp_path / "index"
    _make(out, "one")
    started, release = threading.Event(), threading.Event()

    def slow_build() -> None:
        with staged_directory(out, overwrite=True, marker="manifest.json") as staging:
            started.set()
            release.wait(5)
            (staging / "manifest.json").write_text("two")

    builder = threading.Thread(target=slow_build)
    builder.start()
    started.wait(5)
    with pytest.raises(OutputExistsError, match="another build"):
        _make(out, "three", overwrite=True)
    threading.Timer(0.5, release.set).start()
    waited = time.monotonic()
    with staged_directory(out, overwrite=True, marker="manifest.json", lock_wait_s=10) as staging:
        assert (out / "manifest.json").read_text() == "two"  # it got the lock once the build had published
        (staging / "manifest.json").write_text("update")
    builder.join()
    assert time.monotonic() - waited >= 0.4 and (out / "manifest.json").read_text() == "update"
