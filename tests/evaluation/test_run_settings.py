"""The run folder's settings: compared setting by setting, per-set entries merged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evaluation.run_settings import RUN_SETTINGS, check_run_settings, code_commit, differences
from retrieval.errors import ConfigError, InputDataError

pytestmark = pytest.mark.unit


def settings(dataset: str = "hotpotqa", index: str = "a", **changes: Any) -> dict[str, Any]:
    base = {
        "llm": "llama-cpp:qwen2.5-coder-1.5b",
        "seed": 0,
        "overrides": {},
        "trained_critic": "f" * 64,
        "indexes": {dataset: {"sources_sha256": [index]}},
        "allocations": {},
    }
    return base | changes


def test_differences_name_each_setting_and_compare_indexes_only_of_shared_sets() -> None:
    assert differences(settings(), settings()) == []
    assert differences(settings(), settings("musique", "b")) == []  # another set: added, not compared
    assert differences(settings(), settings(index="b")) == [
        "indexes.hotpotqa: {'sources_sha256': ['a']} -> {'sources_sha256': ['b']}"
    ]
    assert differences(settings(), settings(seed=1, trained_critic=None)) == [
        "seed: 0 -> 1",
        f"trained_critic: {'f' * 64} -> None",
    ]


def test_each_set_adds_its_index_and_a_changed_one_is_refused(tmp_path: Path) -> None:
    check_run_settings(tmp_path, settings(), has_answers=False)
    check_run_settings(tmp_path, settings("musique", "b", allocations={"tokens-4000": {"chains": 2}}), True)
    recorded = json.loads((tmp_path / RUN_SETTINGS).read_text(encoding="utf-8"))
    assert recorded["indexes"] == {"hotpotqa": {"sources_sha256": ["a"]}, "musique": {"sources_sha256": ["b"]}}
    assert recorded["allocations"] == {"tokens-4000": {"chains": 2}}
    with pytest.raises(ConfigError, match=r"indexes\.musique: .* -> "):
        check_run_settings(tmp_path, settings("musique", "c"), True)
    with pytest.raises(ConfigError, match=r"allocations\.tokens-4000: \{'chains': 2\} -> \{'chains': 4\}"):
        check_run_settings(tmp_path, settings(allocations={"tokens-4000": {"chains": 4}}), True)
    assert json.loads((tmp_path / RUN_SETTINGS).read_text(encoding="utf-8")) == recorded


def test_an_unreadable_settings_file_is_named(tmp_path: Path) -> None:
    (tmp_path / RUN_SETTINGS).write_text("{not json", encoding="utf-8")
    with pytest.raises(InputDataError, match="unreadable run settings"):
        check_run_settings(tmp_path, settings(), has_answers=True)


def test_each_run_adds_what_made_it_and_is_never_compared(tmp_path: Path) -> None:
    first = {"command": "sleuth eval --dataset hotpotqa", "commit": "a" * 40, "dataset": "hotpotqa"}
    second = first | {"commit": "b" * 40}  # a later commit resuming the folder: recorded, not refused
    check_run_settings(tmp_path, settings(), has_answers=False, made_by=first)
    check_run_settings(tmp_path, settings(), has_answers=True, made_by=second)
    assert json.loads((tmp_path / RUN_SETTINGS).read_text(encoding="utf-8"))["runs"] == [first, second]


def test_the_code_commit_is_the_checkout_this_package_runs_from(tmp_path: Path) -> None:
    commit = code_commit()
    assert commit == "unknown" or len(commit.split(" ")[0]) == 40
    assert code_commit(tmp_path) == "unknown"  # not a git checkout
