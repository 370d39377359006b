"""The official answer metrics of the three benchmarks, loaded from their own source files, and the
prediction/gold pairs they are compared with Sleuth's metrics on.

The official files live in tests/evaluation/official/ (see its README: where each comes from, at which
commit, and how to fetch them); they are not committed. Only the answer-metric functions are taken from
each file, unchanged, by parsing it and executing those function definitions alone (the files' other
imports, such as ujson or MuSiQue's metric base class, are not needed for them).
"""

from __future__ import annotations

import ast
import collections
import json
import random
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

OFFICIAL_DIR = Path(__file__).parent / "official"
PINNED = OFFICIAL_DIR / "expected_scores.json"
FILES = {
    "hotpotqa": "hotpot_evaluate_v1.py",
    "2wikimultihopqa": "2wikimultihop_evaluate_v1_1.py",
    "musique": "musique_metrics_answer.py",
}
FUNCTIONS = {
    "hotpotqa": ("normalize_answer", "f1_score", "exact_match_score"),
    "2wikimultihopqa": ("normalize_answer", "f1_score", "exact_match_score", "eval_answer", "update_answer"),
    "musique": ("normalize_answer", "get_tokens", "compute_exact", "compute_f1", "metric_max_over_ground_truths"),
}

# (prediction, gold answers): articles, punctuation, case, whitespace, yes/no/noanswer, empty, unicode,
# numbers, repeated tokens, aliases
CASES: list[tuple[str, list[str]]] = [
    ("the Eiffel Tower", ["Eiffel Tower"]),
    ("An apple a day", ["apple day"]),
    ("theatre", ["the atre"]),
    ("A", ["an"]),
    ("the", [""]),
    ("", [""]),
    ("", ["Paris"]),
    ("Paris", [""]),
    ("   ", ["   "]),
    ("yes", ["yes"]),
    ("Yes.", ["yes"]),
    ("yes", ["no"]),
    ("yes it is", ["yes"]),
    ("no", ["No"]),
    ("no way", ["no"]),
    ("noanswer", ["no answer"]),
    ("no answer", ["noanswer"]),
    ("no-answer", ["noanswer"]),
    ("NOANSWER", ["noanswer"]),
    ("yes", ["yes", "no"]),
    ("Barack Obama", ["Obama"]),
    ("President Barack Hussein Obama", ["Barack Obama", "Obama", "B. Obama"]),
    ("B. Obama", ["Barack Obama", "B Obama"]),
    ("U.S.A.", ["USA"]),
    ("U.S.A.", ["U S A"]),
    ("Saint-Étienne", ["Saint Étienne"]),
    ("Saint–Étienne", ["Saint Étienne"]),  # en dash is not ASCII punctuation
    ("São Paulo, Brazil", ["Sao Paulo"]),
    ("Zürich", ["zürich"]),
    ("ΑΘΉΝΑ", ["αθήνα"]),
    ("Straße", ["STRASSE"]),
    ("東京", ["東京都"]),
    ("“Heroes”", ['"Heroes"']),
    ("It's", ["its"]),
    ("rock 'n' roll", ["rock n roll"]),
    ("1,000", ["1000"]),
    ("1 000", ["1000"]),
    ("20 March 851", ["March 20, 851", "20 March 851"]),
    ("$5.5 million", ["5.5 million"]),
    ("the the the", ["the"]),
    ("New York New York", ["New York"]),
    ("a b c d", ["d c b a"]),
    ("the band the Beatles", ["The Beatles"]),
    ("Theodore", ["the odore"]),
    ("an\tapple\n", ["apple"]),
    ("insufficient evidence", ["Pittsburgh Pirates", "Pirates"]),
    ("Pittsburgh", ["Pittsburgh Pirates", "Orioles", "Pirates", "Baltimore Orioles"]),
    ("the Mets", ["Pittsburgh Pirates", "New York Mets", "Mets"]),
    ("Phulwari", ["Phoolwari", "Phulwari"]),
    ("American", ["United States", "American", "USA"]),
    ("yes", ["Yes", "Yeah"]),
    ("no", ["No.", "nope"]),
    ("", ["Paris", ""]),
    ("a", ["b"]),
    ("An", ["A"]),
    ("(1994)", ["1994"]),
    ("Ed Wood (film)", ["Ed Wood"]),
    ("answer: yes", ["yes"]),
    ("éa", ["é"]),  # no word boundary between é and a: the article rule is Unicode-aware
    ("the東京", ["東京"]),
    ("Ωthe end", ["Ω end"]),
    ("l'a", ["l"]),
]

_VOCAB = [
    "the",
    "a",
    "an",
    "The",
    "A",
    "AN",
    "yes",
    "no",
    "noanswer",
    "Yes",
    "NO",
    "Paris",
    "paris",
    "new",
    "York",
    "york",
    "1990",
    "1,990",
    "U.S.",
    "US",
    "Saint-Étienne",
    "Zürich",
    "café",
    "naïve",
    "—",
    "–",
    ",",
    ".",
    "!",
    "?",
    "'",
    '"',
    "(",
    ")",
    "-",
    "and",
    "of",
    "in",
    "on",
    "東京",
    "Ω",
    "é",
    "éa",
    "thé",
    "the東京",
    "a-b",
]


def load_official(dataset: str, directory: Path = OFFICIAL_DIR) -> dict[str, Callable[..., Any]] | None:
    """The official answer-metric functions of `dataset`, or None when its file is not there."""
    path = directory / FILES[dataset]
    if not path.exists():
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    wanted = FUNCTIONS[dataset]
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    missing = set(wanted) - {n.name for n in nodes}
    if missing:
        raise AssertionError(f"{path} lacks {sorted(missing)}")
    namespace: dict[str, Any] = {"re": re, "string": string, "collections": collections, "Counter": collections.Counter}
    exec(compile(ast.Module(body=list(nodes), type_ignores=[]), str(path), "exec"), namespace)
    return {name: namespace[name] for name in wanted}


def official_score(dataset: str, official: dict[str, Callable[..., Any]], prediction: str, golds: list[str]) -> dict:
    """EM and F1 as the official script computes them for one prediction."""
    if dataset == "hotpotqa":  # one gold answer per question in HotpotQA; best over several as 2Wiki does
        em = max(float(official["exact_match_score"](prediction, g)) for g in golds)
        f1 = max(official["f1_score"](prediction, g)[0] for g in golds)
        return {"em": em, "f1": float(f1)}
    if dataset == "2wikimultihopqa":
        metrics = {"em": 0, "f1": 0, "prec": 0, "recall": 0}
        official["update_answer"](metrics, prediction, golds)
        return {"em": float(metrics["em"]), "f1": float(metrics["f1"])}
    best = official["metric_max_over_ground_truths"]
    em = best(official["compute_exact"], prediction, golds)
    f1 = best(official["compute_f1"], prediction, golds)
    return {"em": float(em), "f1": float(f1)}


def random_cases(seed: int, count: int, golds_pool: list[list[str]]) -> list[tuple[str, list[str]]]:
    """Random predictions against random golds, and perturbed golds against themselves."""
    rng = random.Random(seed)
    cases: list[tuple[str, list[str]]] = []
    for _ in range(count):
        if golds_pool and rng.random() < 0.5:
            golds = rng.choice(golds_pool)
            prediction = _perturb(rng, rng.choice(golds))
        else:
            golds = [_phrase(rng) for _ in range(rng.randint(1, 3))]
            prediction = _phrase(rng)
        cases.append((prediction, golds))
    return cases


def gold_pool_from(path: Path, limit: int = 300) -> list[list[str]]:
    pool = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if len(pool) >= limit:
                break
            pool.append([str(a) for a in json.loads(line)["answers"]])
    return pool


def _phrase(rng: random.Random) -> str:
    return " ".join(rng.choice(_VOCAB) for _ in range(rng.randint(0, 5)))


def _perturb(rng: random.Random, text: str) -> str:
    words = text.split()
    choice = rng.randrange(6)
    if choice == 0:
        return f"the {text}"
    if choice == 1:
        return text.upper() + rng.choice([".", "!", ""])
    if choice == 2 and words:
        return " ".join(words[: max(1, len(words) - 1)])
    if choice == 3:
        return f"{text} {rng.choice(_VOCAB)}"
    if choice == 4:
        return text.replace(" ", "  ").replace(",", "")
    return rng.choice(["yes", "no", "", text])


def pin(path: Path = PINNED, data_dir: Path | None = None) -> None:
    """Score the cases (fixed, then random, some built from the dev golds) with the official scripts and
    write them with their scores to `path` (run: python -m tests.evaluation.official_reference)."""
    pinned: dict[str, list[dict[str, Any]]] = {}
    for seed, dataset in enumerate(FILES):
        official = load_official(dataset)
        if official is None:
            raise SystemExit(f"{OFFICIAL_DIR / FILES[dataset]} is missing: run {OFFICIAL_DIR / 'fetch.sh'}")
        dev = (data_dir / dataset / "dev.jsonl") if data_dir else None
        pool = gold_pool_from(dev) if dev and dev.exists() else []
        cases = CASES + random_cases(seed, 600, pool)
        pinned[dataset] = [{"prediction": p, "answers": g, **official_score(dataset, official, p, g)} for p, g in cases]
    path.write_text(json.dumps(pinned, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


if __name__ == "__main__":
    pin(data_dir=Path(__file__).resolve().parents[3] / "shared" / "data")
