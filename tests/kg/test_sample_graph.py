"""The graph of the sample corpus is the one the dict-based assembly of commit 050aee5 made, file for file.

See `sample_graph.py` for the fixture: recorded spaCy mentions in, the old code's graph files out.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.kg.sample_graph import FIXTURE, GRAPH_FILES, ReplayedMentions, build_graph, update_graph

pytestmark = pytest.mark.unit

Make = Callable[[Path, ReplayedMentions], Path]


@pytest.mark.parametrize(("name", "make"), [("whole", build_graph), ("update", update_graph)])
def test_graph_files_equal_the_recorded_ones(name: str, make: Make, tmp_path: Path) -> None:
    graph = make(tmp_path / name, ReplayedMentions.load())
    expected = FIXTURE / name
    with gzip.open(expected / "entities.json.gz", "rt", encoding="utf-8") as handle:
        entities = json.load(handle)
    assert json.loads((graph / "entities.json").read_text(encoding="utf-8")) == entities
    assert json.loads((graph / "graph.json").read_text(encoding="utf-8")) == json.loads(
        (expected / "graph.json").read_text(encoding="utf-8")
    )
    for arrays in ("mentions.npz", "edges.npz"):  # entity, passage, count; src, dst, type, weight, support
        with np.load(graph / arrays) as built, np.load(expected / arrays) as recorded:
            assert sorted(built.files) == sorted(recorded.files)
            for key in recorded.files:
                assert built[key].dtype == recorded[key].dtype, f"{arrays}:{key}"
                assert np.array_equal(built[key], recorded[key]), f"{arrays}:{key}"
    digests = json.loads((FIXTURE / "digests.json").read_text(encoding="utf-8"))[name]
    assert {file: hashlib.sha256((graph / file).read_bytes()).hexdigest() for file in GRAPH_FILES} == digests
