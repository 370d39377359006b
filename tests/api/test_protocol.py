"""The API's enumerations are the library's: methods, budgets, critics, search modes, job states, index
options; and the API's defaults are the command line's."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from api.protocol.ask import AskRequest, BudgetName, CriticName, MethodName
from api.protocol.jobs import JobStateName
from api.protocol.search import SearchModeName, SearchRequest
from api.settings import Limits
from kg.graph_search import ALL_MODES
from reasoning.budget import BUDGET_NAMES, CRITIC_KINDS, DEFAULT_BUDGET
from reasoning.methods import METHODS
from retrieval.bm25_index import METHODS as BM25_METHODS
from retrieval.dense_index import KINDS as DENSE_KINDS
from workers.jobs import STATES
from workers.payloads import AskPayload, IndexOptions

pytestmark = pytest.mark.unit


def test_enumerations_match_the_library() -> None:
    assert get_args(MethodName) == tuple(METHODS)
    assert get_args(BudgetName) == tuple(BUDGET_NAMES)
    assert get_args(CriticName) == CRITIC_KINDS
    assert get_args(SearchModeName) == tuple(ALL_MODES)
    assert get_args(JobStateName) == STATES


def test_the_schema_lists_the_library_names() -> None:
    ask = AskRequest.model_json_schema()
    assert tuple(ask["properties"]["method"]["enum"]) == tuple(METHODS)
    assert tuple(ask["properties"]["budget"]["enum"]) == tuple(BUDGET_NAMES)
    assert tuple(SearchRequest.model_json_schema()["properties"]["mode"]["enum"]) == tuple(ALL_MODES)
    options = IndexOptions.model_json_schema()["properties"]
    assert tuple(options["faiss"]["enum"]) == DENSE_KINDS
    assert tuple(options["bm25_method"]["enum"]) == BM25_METHODS
    assert tuple(Limits.model_json_schema()["properties"]["max_budget"]["enum"]) == tuple(BUDGET_NAMES)


def test_one_default_budget() -> None:
    assert AskRequest(question="q?", index="a-docs").budget == DEFAULT_BUDGET
    assert AskPayload(question="q?", index="a-docs").budget == DEFAULT_BUDGET
    assert DEFAULT_BUDGET in Limits().short_budgets  # a plain ask waits for its answer, as before


def test_the_openapi_document_states_exactly_one_source_and_the_file_endings(tmp_path: Path) -> None:
    from api.app import create_app
    from tests.workers.harness import fake_runtime, settings

    spec = create_app(settings(tmp_path), runtime_factory=fake_runtime).openapi()
    schemas = spec["components"]["schemas"]
    assert [branch["required"] for branch in schemas["SourceRef"]["oneOf"]] == [["path"], ["upload"]]
    assert "exactly one of `path` and `upload`" in schemas["SourceRef"]["description"]
    assert [b["required"] for b in schemas["DocumentsAddRequest"]["oneOf"]] == [["documents"], ["source"]]
    assert ".csv" in schemas["SourceRef"]["properties"]["path"]["description"]
    upload = spec["paths"]["/v1/uploads"]["post"]
    filename = next(p for p in upload["parameters"] if p["name"] == "filename")
    assert all(ending in filename["description"] for ending in (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".gz"))
    assert set(upload["requestBody"]["content"]) == {"application/octet-stream", "multipart/form-data"}
    assert "415" in upload["responses"]
    assert schemas["IndexCreateRequest"]["properties"]["options"]["$ref"].endswith("/IndexOptions")


def test_request_models_are_strict() -> None:
    from pydantic import ValidationError

    from api.protocol.indexes import IndexCreateRequest

    for bad in ({"k": "5"}, {"k": True}):
        with pytest.raises(ValidationError):
            SearchRequest.model_validate({"query": "q", "index": "a-docs", **bad})
    with pytest.raises(ValidationError):
        IndexCreateRequest.model_validate({"name": "a-x", "source": {"path": "p"}, "options": {"kg": "no"}})
    request = IndexCreateRequest.model_validate({"name": "a-x", "source": {"path": "p"}, "options": {"kg": False}})
    assert isinstance(request.options, IndexOptions) and request.options.build_options().skip_invalid is False
