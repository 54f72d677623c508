"""The conformance corpus against one node (RF=1)."""

from __future__ import annotations

import pytest
from cassandra.cluster import Session
from conformance_cases import Case
from conformance_runner import all_cases, run_case

CASES = [c for c in all_cases() if 1 in c.nodes]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(one_node: Session, case: Case) -> None:
    run_case(one_node, case, rf=1)
