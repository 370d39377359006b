"""The API's enumerations are the library's: methods, budgets, critics, search modes."""

from __future__ import annotations

from typing import get_args

import pytest

from api.protocol.ask import BudgetName, CriticName, MethodName
from api.protocol.search import SearchModeName
from kg.graph_search import ALL_MODES
from reasoning.budget import BUDGET_NAMES, CRITIC_KINDS
from reasoning.methods import METHODS

pytestmark = pytest.mark.unit


def test_enumerations_match_the_library() -> None:
    assert get_args(MethodName) == tuple(METHODS)
    assert get_args(BudgetName) == tuple(BUDGET_NAMES)
    assert get_args(CriticName) == CRITIC_KINDS
    assert get_args(SearchModeName) == tuple(ALL_MODES)
