"""The conformance corpus against three nodes (RF=3, QUORUM)."""

from __future__ import annotations

import pytest
from cassandra.cluster import Session
from conformance_cases import Case
from conformance_runner import all_cases, run_case

CASES = [c for c in all_cases() if 3 in c.nodes]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(three_nodes: Session, case: Case) -> None:
    run_case(three_nodes, case, rf=3)
