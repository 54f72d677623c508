"""Bad input never answers ServerError: a short run against one real node through the stock
driver (the in-process run with arbitrary bound bytes is tests/node/test_bad_input.py).

Generated and mutated CQL (tests/node/cql_fuzz_gen.py) goes as simple statements, and, when it
prepares, as an EXECUTE with every value null or unset. Every answer must be a result or a
client error; afterwards the node's log must hold no traceback and nothing at ERROR.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cassandra import DriverException, RequestExecutionException, RequestValidationException
from cassandra.cluster import NoHostAvailable, Session
from cassandra.policies import FallthroughRetryPolicy
from cassandra.protocol import ErrorMessage, ServerError
from cassandra.query import UNSET_VALUE
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "node"))
from cql_fuzz_gen import SCHEMA, statements  # noqa: E402

EXAMPLES = 150


@pytest.fixture(scope="module")
def node(module_cluster_factory: Any) -> Iterator[tuple[Any, Session]]:
    c = module_cluster_factory(1)
    session = c.session_to(c.nodes[0].address, default_retry_policy=FallthroughRetryPolicy())
    for cql in SCHEMA:
        session.execute(cql)
    session.set_keyspace("ks")
    yield c, session


def _answer(session: Session, cql: str, values: Any = None) -> None:
    """Run one statement; a client error is a fine answer, ServerError is not."""
    try:
        session.execute(cql, values)
    except ServerError as e:
        raise AssertionError(f"{cql!r}: ServerError {e}") from e
    except NoHostAvailable as e:
        assert not any(isinstance(x, ServerError) for x in e.errors.values()), f"{cql!r}: {e}"
    except (RequestValidationException, RequestExecutionException, ErrorMessage):
        pass  # a client error (InvalidRequest, SyntaxException, ...) or a timeout
    except (DriverException, ValueError, TypeError, KeyError, IndexError):
        pass  # refused by the driver before sending (e.g. a '%' it cannot format)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(cql=statements())
def test_generated_cql_never_answers_server_error(node: tuple[Any, Session], cql: str) -> None:
    _, session = node
    _answer(session, cql.replace("%", "%%"))
    try:
        prepared = session.prepare(cql)
    except ServerError as e:
        raise AssertionError(f"PREPARE {cql!r}: ServerError {e}") from e
    except (RequestValidationException, RequestExecutionException, ErrorMessage,
            DriverException):
        return
    n = len(prepared.column_metadata)
    for fill in (None, UNSET_VALUE):
        try:
            bound = prepared.bind([fill] * n)
        except (ValueError, TypeError):
            continue
        _answer(session, bound)


def test_node_log_holds_no_traceback(node: tuple[Any, Session]) -> None:
    """Runs after the generated statements (pytest keeps the file's order)."""
    c, _ = node
    text = c.nodes[0].log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[text.index("Traceback") - 200:][:3000]
    assert " ERROR " not in text, [line for line in text.splitlines() if " ERROR " in line][:5]
