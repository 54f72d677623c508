"""vector<type, N>: its encoding agrees with the stock driver's VectorType, both fixed-size
(float) and variable-size (text, uvint-prefixed) elements; the similarity functions give
Lucene's scores as Cassandra's VectorFcts does."""

from __future__ import annotations

import math
import struct

import pytest
from cassandra.cqltypes import lookup_casstype

from skewless import errors
from skewless.cql.types import VectorType, parse_type
from skewless.cql.types_vector import check_similarity_args, similarity, uvint_pack


def _driver(t: VectorType) -> type:
    return lookup_casstype(t.marshal_name())  # type: ignore[no-any-return]


@pytest.mark.parametrize(("text", "value"), [
    ("vector<float, 3>", [1.0, -2.5, 3.0]),
    ("vector<text, 2>", ["a", "b" * 300]),
    ("vector<int, 2>", [1, -7]),
    ("vector<bigint, 1>", [2**40]),
])
def test_encoding_matches_the_driver(text: str, value: list[object]) -> None:
    t = parse_type(text)
    assert isinstance(t, VectorType) and t.name == text
    data = t.serialize(value)
    assert data == _driver(t).serialize(value, 4)
    assert t.deserialize(data) == value == _driver(t).deserialize(data, 4)


def test_option_names_the_marshal_class() -> None:
    t = parse_type("vector<float, 2>")
    name = (b"org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal."
            b"FloatType, 2)")
    assert t.option_bytes() == b"\x00\x00" + struct.pack(">H", len(name)) + name


def test_dimension_and_nulls_are_checked() -> None:
    t = parse_type("vector<float, 2>")
    with pytest.raises(errors.InvalidRequest, match="Required 2 elements, but saw 3"):
        t.serialize([1.0, 2.0, 3.0])
    with pytest.raises(errors.InvalidRequest, match="null is not supported inside vectors"):
        t.serialize([1.0, None])
    with pytest.raises(errors.InvalidRequest, match="Expected 8 bytes"):
        t.validate(b"\x00" * 4)
    with pytest.raises(errors.InvalidRequest, match="positive dimentions; given 0"):
        parse_type("vector<float, 0>")
    assert parse_type("frozen<vector<float, 2>>") == t


def test_uvint_matches_the_driver() -> None:
    from cassandra.marshal import uvint_pack as driver_uvint

    for n in (0, 1, 127, 128, 300, 16383, 16384, 2**21, 2**35):
        assert uvint_pack(n) == driver_uvint(n)


def test_similarity_scores() -> None:
    t = parse_type("vector<float, 2>")
    assert isinstance(t, VectorType)

    def score(name: str, a: list[float], b: list[float]) -> float:
        return float(struct.unpack(">f", similarity(name, t.serialize(a), t.serialize(b), t))[0])

    assert score("similarity_cosine", [1.0, 0.0], [0.0, 1.0]) == 0.5
    assert score("similarity_cosine", [1.0, 1.0], [2.0, 2.0]) == pytest.approx(1.0)
    assert score("similarity_euclidean", [0.0, 0.0], [3.0, 4.0]) == pytest.approx(1 / 26)
    assert score("similarity_dot_product", [0.6, 0.8], [0.6, 0.8]) == pytest.approx(1.0)
    assert math.isnan(score("similarity_cosine", [0.0, 0.0], [1.0, 1.0]))


def test_similarity_argument_checks() -> None:
    f2, f3, i2 = (parse_type(x) for x in ("vector<float, 2>", "vector<float, 3>",
                                           "vector<int, 2>"))
    with pytest.raises(errors.InvalidRequest, match="requires two arguments, but 1 given"):
        check_similarity_args("similarity_cosine", [f2])
    with pytest.raises(errors.InvalidRequest, match="Only float vectors are supported by"):
        check_similarity_args("similarity_cosine", [f2, i2])
    with pytest.raises(errors.InvalidRequest, match="same vector dimensions"):
        check_similarity_args("similarity_cosine", [f2, f3])


def test_vector_clustering_column_is_refused_not_a_server_error() -> None:
    """Clustering order over vectors is not built: CREATE TABLE answers Invalid naming it."""
    import uuid

    from skewless.cql.parser import parse
    from skewless.node.schema.ddl import apply_ddl
    from skewless.schema import Schema

    s, _ = apply_ddl(Schema(), parse("CREATE KEYSPACE ks WITH replication = {'class': "
                                     "'SimpleStrategy', 'replication_factor': 1}").statement,
                     None, uuid.UUID(int=1))  # type: ignore[arg-type]
    stmt = parse("CREATE TABLE ks.t (k int, c vector<float, 2>, PRIMARY KEY (k, c))").statement
    with pytest.raises(errors.InvalidRequest, match="vector type in clustering column 'c'"):
        apply_ddl(s, stmt, None, uuid.UUID(int=2))  # type: ignore[arg-type]
