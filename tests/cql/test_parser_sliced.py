"""Sliced parsing (parser_sliced) gives what ``parse`` gives, a few tokens per step; the shape
check refuses deep nesting and long SELECT clauses before anything recurses (issue 15)."""

from __future__ import annotations

import pytest

from skewless import errors, limits
from skewless.cql import ast, statement_limits
from skewless.cql.parser import handed_over, parse
from skewless.cql.parser_sliced import SlicedParse

STATEMENTS = [
    "SELECT * FROM ks.t WHERE k = ? AND c IN (1, ?, :x)",
    "SELECT " + ", ".join(["a"] * 999) + " FROM ks.t",
    "BEGIN BATCH " + " ".join(f"INSERT INTO ks.t (k, v) VALUES ({i}, ?);" for i in range(100))
    + " APPLY BATCH",
    "UPDATE t SET s = s + {'a', 'b'}, m[?] = 3 WHERE k = :key IF EXISTS",
    "SELEC x",
    "SELECT * FROM t WHERE",
    "SELECT " + ", ".join(["a"] * 2000) + " FROM ks.t",
    "SELECT * FROM ks.t WHERE k = " + "(int)" * 1000 + "1",
    "SELECT * FROM ks.t WHERE k = " + "(" * 10_000 + "1" + ")" * 10_000,
    "SELECT * FROM ks.t WHERE k IN (" + ", ".join(str(i) for i in range(40_000)) + ")",
]


def _outcome(text: str) -> ast.Parsed | errors.CqlError:
    try:
        return parse(text)
    except errors.CqlError as e:
        return e


@pytest.mark.parametrize("text", STATEMENTS, ids=range(len(STATEMENTS)))
def test_sliced_parse_equals_parse(text: str) -> None:
    sliced = SlicedParse(text)
    steps = 0
    while not sliced.step(8, 100):
        steps += 1
        assert steps < 1_000_000
        # a short statement parsed inline between two steps keeps its own bind markers
        assert parse("SELECT * FROM t WHERE k = ? AND c = ?").bind_count == 2
    got, want = sliced.outcome(), _outcome(text)
    assert type(got) is type(want)
    if isinstance(want, errors.CqlError):
        assert str(got) == str(want)
    else:
        assert got == want
    assert steps > 0 or len(text) < 40


def test_deep_cast_is_a_syntax_error_not_a_recursion_error() -> None:
    with pytest.raises(errors.SyntaxException, match="nests expressions deeper than the maximum"):
        parse("SELECT * FROM t WHERE k = " + "(int)" * 5_000 + "1")
    depth_ok = "(int)" * (limits.cql_expression_depth_max - 10) + "1"
    assert parse(f"SELECT * FROM t WHERE k = {depth_ok}").bind_count == 0


def test_too_many_markers_keeps_cassandras_message_past_the_token_bound() -> None:
    """Over the token bound, a statement holding more bind markers than a statement may is
    refused with Cassandra's own message (what Cassandra checks); markers inside a string
    literal or a comment do not count."""
    many = limits.cql_bind_markers_max + 1
    marks = ", ".join("?" * many)
    with pytest.raises(errors.InvalidRequest, match=f"Too many markers.*{many} markers exceed"):
        parse(f"SELECT * FROM t WHERE k IN ({marks})")
    quoted = "'" + "?" * many + "'"
    with pytest.raises(errors.InvalidRequest, match="more than .* tokens"):
        parse(f"SELECT * FROM t WHERE k IN ({', '.join([quoted] * 2)}, "
              + "1, " * limits.cql_statement_tokens_max + "1) /* ??? */")


def test_statement_tokens_are_bounded() -> None:
    n = limits.cql_statement_tokens_max
    with pytest.raises(errors.InvalidRequest, match=f"more than {n} tokens"):
        parse("SELECT " + "a, " * n + "a FROM t")
    sliced = SlicedParse("SELECT " + "a, " * n + "a FROM t")
    steps = 0
    while not sliced.step(64, 100):
        steps += 1
    assert isinstance(sliced.error, errors.InvalidRequest) and steps <= n // 64 + 1


def test_select_clause_size_is_bounded() -> None:
    n = limits.cql_select_selectors_max
    assert len(parse("SELECT " + ", ".join(["a"] * n) + " FROM t").statement.selectors) == n
    with pytest.raises(errors.InvalidRequest, match=f"has {n + 1} selectors, more than the "
                       f"maximum of {n}"):
        parse("SELECT " + ", ".join(["a"] * (n + 1)) + " FROM t")


def test_shape_check_walks_iteratively() -> None:
    term: ast.Term = ast.Constant("integer", "1")
    for _ in range(50_000):  # far deeper than the interpreter's stack
        term = ast.Cast(term, "int")
    with pytest.raises(errors.SyntaxException):
        statement_limits.check(ast.Select(None, "t", (), (ast.Relation("k", "=", term),)))


def test_handed_over_outcomes_are_answered_unparsed() -> None:
    parsed = parse("SELECT * FROM t")
    refusal = errors.InvalidRequest("refused")
    with handed_over({"not cql at all": parsed, "SELECT * FROM u": refusal}):
        assert parse("not cql at all") is parsed
        with pytest.raises(errors.InvalidRequest, match="refused"):
            parse("SELECT * FROM u")
    with pytest.raises(errors.SyntaxException):
        parse("not cql at all")
