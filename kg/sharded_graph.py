"""The knowledge-graph side of a sharded build: NER per shard on workers, the graph assembled at the merge.

NER is the costly part of the graph; assembly, synonyms and saving are cheap and need every passage at
once. So each shard's mentions are written to `mentions/shard-N.json` (one list per passage, in row
order), and the merge runs the ordinary `KnowledgeGraphStage` with `StoredMentions` as its extractor,
which replays the shards' mentions in row order: the graph is the one a single-process build makes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

from kg.graph_stage import GraphBuildConfig, KnowledgeGraphStage
from kg.name_vectors import SynonymConfig
from kg.ner import EntityExtractor, Mention
from retrieval.bundle import PASSAGES
from retrieval.embedders import Embedder
from retrieval.errors import IndexLoadError
from retrieval.passage_store import PassageStore
from retrieval.sharding import ShardPlan, shard_file

MENTIONS_DIR = "mentions"


def extract_shard(plan: ShardPlan, shard: int, extractor: EntityExtractor, describe: dict[str, Any]) -> None:
    """NER on the rows of one shard into its mentions file (skipped when the file exists)."""
    target = shard_file(plan, shard, MENTIONS_DIR, ".json")
    if target.is_file():
        return
    start, end = plan.shards[shard]
    store = PassageStore.open(plan.workdir / PASSAGES)
    try:
        passages = store.get_rows(list(range(start, end)))
    finally:
        store.close()
    rows = [
        [[m.text, m.label, m.sentence, m.start, m.end] for m in mentions]
        for mentions in extractor.extract(p.text for p in passages)
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps({"describe": describe, "rows": rows}), encoding="utf-8")
    os.replace(partial, target)


class StoredMentions:
    """An EntityExtractor that replays the mentions the shards stored, in row order."""

    def __init__(self, plan: ShardPlan) -> None:
        self.plan = plan

    def describe(self) -> dict[str, Any]:
        if not self.plan.shards:
            return {}
        return dict(self._load(0)["describe"])

    def extract(self, texts: Iterable[str]) -> Iterator[list[Mention]]:
        text_iter = iter(texts)
        for shard in range(len(self.plan.shards)):
            for row in self._load(shard)["rows"]:
                next(text_iter)
                yield [Mention(str(t), str(label), int(s), int(a), int(b)) for t, label, s, a, b in row]

    def _load(self, shard: int) -> dict[str, Any]:
        path = shard_file(self.plan, shard, MENTIONS_DIR, ".json")
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise IndexLoadError(f"mentions of shard {shard} of build {self.plan.build_id} are missing: {exc}") from exc
        return data


def stored_graph_stage(
    plan: ShardPlan, embedder: Embedder | None = None, *, synonyms: SynonymConfig | None = None
) -> KnowledgeGraphStage:
    """The graph stage of the merge: the ordinary stage over the shards' stored mentions."""
    mentions = StoredMentions(plan)
    config = GraphBuildConfig(synonyms=synonyms or SynonymConfig())
    return KnowledgeGraphStage(mentions, config, embedder=embedder, describe_extractor=mentions.describe())
