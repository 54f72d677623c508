"""Element, slice and field selection: parsing (``..`` against floats) and result metadata."""

from __future__ import annotations

import pytest
from test_select import plan

from skewless import errors
from skewless.cql import ast
from skewless.cql.parser import parse


def _selectors(q: str) -> tuple[ast.SelectorExpr, ...]:
    stmt = parse(q).statement
    assert isinstance(stmt, ast.Select)
    return tuple(s.expr for s in stmt.selectors)


def test_an_integer_slice_is_not_read_as_a_float() -> None:
    i = lambda n: ast.Constant("integer", n)  # noqa: E731
    m = ast.ColumnRef("m")
    assert _selectors("SELECT m[1..3], m[..3], m[1..], m[1] FROM t") == (
        ast.SelectorSlice(m, i("1"), i("3")), ast.SelectorSlice(m, None, i("3")),
        ast.SelectorSlice(m, i("1"), None), ast.SelectorElement(m, i("1")))
    assert _selectors("SELECT m[1.5..2.], 1., 1.5e3 FROM t") == (
        ast.SelectorSlice(m, ast.Constant("float", "1.5"), ast.Constant("float", "2.")),
        ast.SelectorTerm(ast.Constant("float", "1.")),
        ast.SelectorTerm(ast.Constant("float", "1.5e3")))


def test_fields_chain_left_to_right() -> None:
    assert _selectors("SELECT u.a.b['k'] FROM t") == (ast.SelectorElement(
        ast.SelectorField(ast.SelectorField(ast.ColumnRef("u"), "a"), "b"),
        ast.Constant("string", "k")),)


def test_result_metadata_names_and_types() -> None:
    p = plan("SELECT st[1], st[1..2], st[..2] AS x FROM t")
    assert [(c.name, c.type) for c in p.columns] == [
        ("st[1]", "int"), ("st[1..2]", "set<int>"), ("x", "set<int>")]


def test_element_of_a_non_collection_is_refused() -> None:
    with pytest.raises(errors.InvalidRequest, match="Invalid element selection: v is of type "
                       "text is not a collection"):
        plan("SELECT v['a'] FROM t")
