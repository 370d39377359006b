"""Which documents an evaluation index is built from.

Three cases: a corpus file given as is (`--corpus`); the context paragraphs of a raw-format questions
file, written out as a corpus; and, for quick runs, only the paragraphs of the selected questions' own
contexts (gold and distractors: the distractor setting), taken from either.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from evaluation.datasets import Question, detect_format, iter_jsonl
from evaluation.raw_formats import write_corpus
from retrieval.errors import ConfigError, InputDataError

log = logging.getLogger(__name__)


def prepare_corpus(
    dataset: str,
    questions_path: Path,
    corpus: Path | None,
    work_dir: Path,
    *,
    context_of: Sequence[Question] | None = None,
) -> Path:
    """The corpus file to index. With `context_of`, only those questions' context paragraphs."""
    if corpus is None and detect_format(questions_path) == "sleuth":
        raise ConfigError(
            f"{questions_path} holds no paragraphs: give --corpus to build the index (or an existing --index)"
        )
    if context_of is not None:
        return _context_subset(dataset, questions_path, corpus, work_dir, context_of)
    if corpus is not None:
        return corpus
    out = work_dir / f"corpus-{dataset}.jsonl"
    count = write_corpus(questions_path, dataset, out)
    log.info("wrote %d context paragraphs of %s to %s", count, questions_path, out)
    return out


def _context_subset(
    dataset: str, questions_path: Path, corpus: Path | None, work_dir: Path, questions: Sequence[Question]
) -> Path:
    wanted = {pid for q in questions for pid in (q.context_ids or q.supporting_ids)}
    if not wanted:
        raise ConfigError("the questions name no context paragraphs (context_ids): build from the whole --corpus")
    out = work_dir / f"corpus-{dataset}-context{len(questions)}.jsonl"
    if corpus is None:
        write_corpus(questions_path, dataset, out, limit=len(questions))
        return out
    found = write_subset(corpus, wanted, out)
    missing = len(wanted) - found
    if missing:
        raise InputDataError(
            f"{missing} context paragraph id(s) of the questions are not in the corpus", source=str(corpus)
        )
    return out


def write_subset(corpus: Path, ids: set[str], out: Path) -> int:
    """Copy the records of `corpus` whose id is in `ids` to `out`; how many were copied."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    copied = 0
    with open(partial, "w", encoding="utf-8") as handle:
        for _line_no, record in iter_jsonl(corpus):
            if str(record.get("id")) in ids:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                copied += 1
    partial.replace(out)
    return copied
