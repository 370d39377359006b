"""The settings a run folder's answers were made with (`OUT/run.json`), so that resuming cannot mix settings.

A run folder resumes: a question whose key is already in the run file is not asked again. That is sound
only when the new answers are made with the settings of the old ones; otherwise a run folder would hold,
say, the answers of one critic for the first questions and of another for the rest, and its summary would
describe neither. `sleuth eval` records the settings that change answers on the folder's first run (the
LLM, the seed, the budget overrides, the trained critic that may apply, each set's index and the
budget each `tokens-N` label stands for) and refuses a later run whose settings differ, naming what differs.
Per-set and per-label entries (indexes, allocations) are compared where both runs have them and added
otherwise, so that one folder can hold every set. A folder from before this file (answers, no run.json) is
resumed and its settings recorded from then on, with a warning. Each run also adds what made it to `runs`
(its command, the commit of the code it ran, the set, when), not compared: a folder says which commits its
answers came from.
"""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

from retrieval.bundle import MANIFEST
from retrieval.checksums import sha256_input
from retrieval.errors import ConfigError, InputDataError
from retrieval.staging import write_text_atomically

log = logging.getLogger(__name__)

RUN_SETTINGS = "run.json"
PER_KEY = ("indexes", "allocations")  # maps compared key by key and merged
RUNS = "runs"  # what made each run of the folder: listed, never compared
CODE_ROOT = Path(__file__).resolve().parents[1]
CODE_PACKAGES = ("retrieval", "kg", "reasoning", "evaluation", "api", "workers")


def code_commit(root: Path = CODE_ROOT) -> str:
    """The commit of the code this process runs (the tree this package is in, not the working directory's),
    marked where its packages have uncommitted changes; "unknown" outside a git checkout."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout

    try:
        head, dirty = git("rev-parse", "HEAD").strip(), git("status", "--porcelain", "--", *CODE_PACKAGES).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty else "")


def index_identity(index: Path) -> dict[str, Any]:
    """What makes an index give the answers it gives (its inputs and how they were indexed), without what
    differs between two builds of the same (the build time, the paths)."""
    manifest = json.loads((index / MANIFEST).read_text(encoding="utf-8"))
    return {
        "sources_sha256": [source.get("sha256") for source in manifest.get("sources", [])],
        "embedder": (manifest.get("embedder") or {}).get("name"),
        "chunking": manifest.get("chunking"),
        "dense": (manifest.get("dense") or {}).get("kind"),
        "graph": bool((manifest.get("graph") or {}).get("built")),
    }


def critic_identity(directory: Path) -> str | None:
    """The sha256 of a trained critic directory's files (None where there is none): the same critic read
    from another path is the same critic."""
    return sha256_input(directory) if directory.is_dir() else None


def run_settings(
    *,
    llm: str,
    seed: int,
    overrides: dict[str, Any],
    trained_critic: Path | None,
    dataset: str,
    index: Path,
    allocated: tuple[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The settings of one `sleuth eval` run. `trained_critic` is the critic directory that may answer
    (the one named, else the shipped default; None where the run's critic is prompted or none: it stands
    for the `critic_dir` override), and `allocated` the `tokens-N` label and the knobs of the budget the
    allocation model picked for it."""
    return {
        "llm": llm,
        "seed": seed,
        "overrides": {k: overrides[k] for k in sorted(overrides) if k != "critic_dir"},
        "trained_critic": critic_identity(trained_critic) if trained_critic is not None else None,
        "indexes": {dataset: index_identity(index)},
        "allocations": dict([allocated]) if allocated is not None else {},
    }


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """`name: recorded -> current` for each setting that differs (per-key maps: on the keys both have)."""
    out = []
    for name in sorted((set(recorded) | set(current)) - {RUNS}):
        old, new = recorded.get(name), current.get(name)
        if name in PER_KEY:
            old, new = old or {}, new or {}
            out += [f"{name}.{k}: {old[k]} -> {new[k]}" for k in sorted(set(old) & set(new)) if old[k] != new[k]]
        elif old != new:
            out.append(f"{name}: {old} -> {new}")
    return out


def check_run_settings(
    out: Path, current: dict[str, Any], has_answers: bool, made_by: dict[str, Any] | None = None
) -> None:
    """Record `current` in `out/run.json`, after checking that it matches what is recorded there, and add
    `made_by` (this run's command, commit, ...) to its `runs`; a mismatch raises ConfigError naming each
    difference and leaves the folder as it was."""
    path = out / RUN_SETTINGS
    recorded: dict[str, Any] = {}
    if path.exists():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputDataError(f"unreadable run settings: {exc}", source=str(path)) from exc
        if diff := differences(recorded, current):
            raise ConfigError(
                f"{out} holds answers made with other settings ({'; '.join(diff)}); resuming would mix them: "
                "give another --out (or delete the folder to start over)"
            )
    elif has_answers:
        log.warning("%s has answers but no %s: resuming, recording this run's settings from now on", out, RUN_SETTINGS)
    merged = current | {name: (recorded.get(name) or {}) | current[name] for name in PER_KEY}
    merged[RUNS] = list(recorded.get(RUNS) or []) + ([made_by] if made_by is not None else [])
    if merged != recorded:
        write_text_atomically(path, json.dumps(merged, indent=1, sort_keys=True) + "\n")
