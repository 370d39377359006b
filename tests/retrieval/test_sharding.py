"""A sharded build (prepare, shards in any order, merge) makes the bundle a single-process build makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.graph import KnowledgeGraph
from kg.graph_stage import GraphBuildConfig, KnowledgeGraphStage
from kg.sharded_graph import extract_shard, stored_graph_stage
from retrieval.builder import BuildOptions, build_index
from retrieval.bundle import IndexBundle
from retrieval.errors import OutputExistsError
from retrieval.sharding import cut_shards, embed_shard, finish_sharded_build, prepare_shards, shard_workdir
from tests.conftest import DOCS, NAMES, write_jsonl
from tests.fakes import GazetteerExtractor, HashingEmbedder

pytestmark = pytest.mark.unit


def test_cut_shards() -> None:
    assert cut_shards(5, 2) == ((0, 2), (2, 4), (4, 5))
    assert cut_shards(0, 2) == ()


def test_sharded_equals_single(tmp_path: Path) -> None:
    dump = write_jsonl(tmp_path / "docs.jsonl", DOCS)
    build_index([dump], tmp_path / "single", HashingEmbedder(), extra_stages=[_stage()])
    out = tmp_path / "sharded"
    plan = prepare_shards([dump], out, HashingEmbedder(), BuildOptions(), build_id="b1", shard_size=2)
    assert prepare_shards([dump], out, HashingEmbedder(), BuildOptions(), build_id="b1", shard_size=2) == plan
    embedder = HashingEmbedder()
    for shard in reversed(range(len(plan.shards))):  # any order, any worker
        embed_shard(plan, shard, embedder)
        extract_shard(plan, shard, GazetteerExtractor(NAMES), {"extractor": "gazetteer"})
    calls = embedder.calls
    embed_shard(plan, 0, embedder)  # a redelivered shard is not redone
    assert embedder.calls == calls
    manifest = finish_sharded_build(plan, BuildOptions(), extra_stages=[stored_graph_stage(plan)])
    assert not shard_workdir(out, "b1").exists()
    single, sharded = IndexBundle.open(tmp_path / "single"), IndexBundle.open(out)
    assert manifest.data["build"]["sharded"]["shards"] == 3
    assert sharded.manifest.data["counts"] == single.manifest.data["counts"]
    assert sharded.manifest.data["graph"]["ner"] == {"extractor": "gazetteer"}
    query = HashingEmbedder().embed(["Acme Corp in Berlin"])
    assert sharded.dense.search(query, 5) == single.dense.search(query, 5)
    assert sharded.bm25.search("capital Germany", 5) == single.bm25.search("capital Germany", 5)
    assert KnowledgeGraph.load(out / "graph").counts() == KnowledgeGraph.load(tmp_path / "single" / "graph").counts()
    assert finish_sharded_build(plan, BuildOptions()).data == sharded.manifest.data  # the merge again: a no-op


def test_sharded_build_will_not_replace_an_index_unasked(tmp_path: Path) -> None:
    dump = write_jsonl(tmp_path / "docs.jsonl", DOCS)
    build_index([dump], tmp_path / "index", HashingEmbedder())
    plan = prepare_shards([dump], tmp_path / "index", HashingEmbedder(), BuildOptions(), build_id="b2", shard_size=10)
    embed_shard(plan, 0, HashingEmbedder())
    with pytest.raises(OutputExistsError):
        finish_sharded_build(plan, BuildOptions())


def _stage() -> KnowledgeGraphStage:
    return KnowledgeGraphStage(
        GazetteerExtractor(NAMES), GraphBuildConfig(), describe_extractor={"extractor": "gazetteer"}
    )
