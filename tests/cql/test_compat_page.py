"""docs/cql-compatibility.md is kept true against the code.

The page's tables are read back here and checked against what the parser, the type registry and
the function registry actually hold: every statement the grammar recognises has a row, every row's
example parses to what its status claims (a built statement for "supported"/"differs", the
named Invalid feature for "not supported"), every native type and every native function has a
row, and the protocol versions listed are the ones the codec accepts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from skewless import errors
from skewless.cql import ast, parser
from skewless.cql import protocol as cql_protocol
from skewless.cql.select_functions import ONE_ARG, ZERO_ARGS
from skewless.cql.selection import AGGREGATES
from skewless.cql.types_native import NATIVE_TYPES
from skewless.cql.types_vector import SIMILARITY_FUNCTIONS

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cql-compatibility.md"
STATUSES = ("supported", "differs", "not supported")


def _tables() -> dict[str, list[list[str]]]:
    """Section heading (## ...) -> the rows of the table(s) under it, cells stripped."""
    tables: dict[str, list[list[str]]] = {}
    section = ""
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        if not line.startswith("|") or re.match(r"^\|[\s:|-]+\|$", line):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        tables.setdefault(section, []).append(cells)
    for rows in tables.values():
        del rows[0]  # the header row
    return tables


def _unquote(cell: str) -> str:
    return cell.replace("`", "").strip()


def _statement_rules() -> tuple[set[str], set[str]]:
    """(grammar rules of built statements, feature names of recognised-but-refused ones)."""
    rules = {r.expansion[0].name for r in parser._PARSER.rules if r.origin.name == "statement"}
    rules.discard("unsupported_stmt")
    features = {
        " ".join(s.name for s in r.expansion if s.name not in ("OR", "REPLACE"))
        for r in parser._PARSER.rules if r.origin.name == "unsupported_head"
    }
    return rules, features


def test_every_status_is_one_of_three_and_explained() -> None:
    tables = _tables()
    assert {"Statements", "Clauses", "Types", "Functions", "Protocol"} <= set(tables)
    for section, rows in tables.items():
        for row in rows:
            status = _unquote(row[-3] if section == "Statements" else row[1])
            assert status in STATUSES, f"{section}: {row[0]}: status {status!r}"
            if status != "supported":
                assert row[-1], f"{section}: {row[0]} is {status!r} but says nothing about it"


def test_every_statement_of_the_grammar_has_a_row() -> None:
    rules, features = _statement_rules()
    listed_rules: set[str] = set()
    listed_features: set[str] = set()
    for row in _tables()["Statements"]:
        where = _unquote(row[1])
        if where.startswith("unsupported:"):
            listed_features.add(where.removeprefix("unsupported:").strip())
        else:
            listed_rules.add(where)
    assert rules - listed_rules == set(), "grammar statements missing from the page"
    assert listed_rules - rules == set(), "the page names grammar rules that do not exist"
    assert features - listed_features == set(), "refused statements missing from the page"
    assert listed_features - features == set(), "the page lists refusals the grammar lacks"


@pytest.mark.parametrize("row", _tables()["Statements"], ids=lambda r: _unquote(r[0]))
def test_each_statement_example_parses_as_its_status_says(row: list[str]) -> None:
    where, status, example = _unquote(row[1]), _unquote(row[2]), _unquote(row[3])
    assert example, f"{row[0]}: no example"
    try:
        parsed = parser.parse(example).statement
    except errors.SyntaxException as e:
        raise AssertionError(f"{row[0]}: example {example!r} does not parse: {e}") from e
    if where.startswith("unsupported:"):
        assert status == "not supported", row
        assert isinstance(parsed, ast.Unsupported), (example, parsed)
        assert parsed.feature == where.removeprefix("unsupported:").strip()
    else:
        assert not isinstance(parsed, ast.Unsupported), (example, parsed)


def test_every_native_type_has_a_row() -> None:
    listed = {_unquote(r[0]).split("<")[0].lower() for r in _tables()["Types"]}
    wanted = set(NATIVE_TYPES) | {"varchar", "list", "set", "map", "tuple", "frozen", "vector"}
    assert wanted - listed == set(), "types missing from the page"


def test_every_native_function_has_a_row() -> None:
    listed = {_unquote(r[0]).split("(")[0].lower() for r in _tables()["Functions"]}
    wanted = set(ZERO_ARGS) | set(ONE_ARG) | set(AGGREGATES) | set(SIMILARITY_FUNCTIONS) | {
        "writetime", "maxwritetime", "ttl", "token", "cast", "typeasblob", "blobastype"}
    assert wanted - listed == set(), "functions missing from the page"


def test_the_protocol_versions_listed_are_the_codecs() -> None:
    rows = {_unquote(r[0]): _unquote(r[1]) for r in _tables()["Protocol"]}
    for version in range(1, 6):
        name = f"v{version}"
        assert name in rows, f"protocol {name} has no row"
        supported = rows[name] != "not supported"
        assert supported == (version in cql_protocol.VERSIONS), name
