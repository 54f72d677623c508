"""Existing applications, unchanged, against a real 3-node cluster: CQLEngine models (as seed
000's services use them), driver schema metadata (export_as_string), collections, TTLs, JSON
and the CQL functions applications use. One shared cluster; each test its own keyspace."""

from __future__ import annotations

import datetime
import json
import re
import threading
import time
import uuid

import pytest
from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.cluster import Session
from cassandra.cqlengine import columns, connection, management
from cassandra.cqlengine.models import Model
from cassandra.cqlengine.query import BatchQuery
from cassandra.cqlengine.usertype import UserType
from cassandra.query import SimpleStatement
from conftest import CQL_PORT, LocalCluster

Q = ConsistencyLevel.QUORUM


def _ks(s: Session, name: str) -> None:
    s.execute(f"CREATE KEYSPACE {name} WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")


def _q(s: Session, query: str, *args: object) -> list:  # type: ignore[type-arg]
    return list(s.execute(SimpleStatement(query, consistency_level=Q), args or None))


@pytest.fixture(scope="module")
def session(shared_cluster: LocalCluster) -> Session:
    return shared_cluster.session()


# ---------------------------------------------------------------- CQLEngine


class Item(Model):
    __keyspace__ = "cqe"
    __table_name__ = "item"
    id = columns.UUID(primary_key=True, default=uuid.uuid4)
    seq = columns.Integer(primary_key=True, clustering_order="DESC")
    name = columns.Text(index=True)
    tags = columns.Set(columns.Text)
    attrs = columns.Map(columns.Text, columns.Integer)
    hist = columns.List(columns.Integer)
    created = columns.DateTime()


class ItemV2(Model):
    """The same table, one column more and table options: sync_table ALTERs it."""

    __keyspace__ = "cqe"
    __table_name__ = "item"
    __options__ = {"default_time_to_live": 3600, "gc_grace_seconds": 7200}
    id = columns.UUID(primary_key=True, default=uuid.uuid4)
    seq = columns.Integer(primary_key=True, clustering_order="DESC")
    name = columns.Text(index=True)
    tags = columns.Set(columns.Text)
    attrs = columns.Map(columns.Text, columns.Integer)
    hist = columns.List(columns.Integer)
    created = columns.DateTime()
    extra = columns.Text()


class Address(UserType):
    street = columns.Text()
    zipcode = columns.Integer()


class Person(Model):
    """User types (frozen, and in a list), a timeuuid key, a TTL'd create."""

    __keyspace__ = "cqe"
    id = columns.TimeUUID(primary_key=True, default=uuid.uuid1)
    addr = columns.UserDefinedType(Address)
    moves = columns.List(columns.UserDefinedType(Address))
    scores = columns.Map(columns.Text, columns.List(columns.Integer))


def test_cqlengine_models_as_seed000_uses_them(shared_cluster: LocalCluster) -> None:
    connection.setup([n.address for n in shared_cluster.nodes], "cqe", protocol_version=4,
                     port=CQL_PORT, consistency=Q)
    try:
        management.create_keyspace_simple("cqe", 3)
        management.create_keyspace_simple("cqe", 3)  # a second call sees it in metadata
        management.sync_table(Item)
        management.sync_table(Item)  # idempotent: the table and its index are recognized
        meta = connection.get_cluster().metadata.keyspaces["cqe"].tables["item"]
        assert [c.name for c in meta.clustering_key] == ["seq"]
        assert [i.index_options["target"] for i in meta.indexes.values()] == ["name"]

        created = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000)
        pid = uuid.uuid4()
        Item.create(id=pid, seq=1, name="a", tags={"x"}, attrs={"k": 1}, hist=[1, 2],
                    created=created)
        got = Item.objects.get(id=pid, seq=1)
        assert (got.name, got.tags, got.attrs, got.hist, got.created) == (
            "a", {"x"}, {"k": 1}, [1, 2], created)
        Item.objects(id=pid, seq=1).update(name="b", tags__add={"y"}, attrs__update={"z": 3},
                                           hist__append=[5])
        Item.objects(id=pid, seq=1).update(tags__remove={"x"}, hist__prepend=[0])
        got = Item.objects.get(id=pid, seq=1)
        assert (got.name, got.tags, got.attrs, got.hist) == (
            "b", {"y"}, {"k": 1, "z": 3}, [0, 1, 2, 5])
        got.name = "c"
        got.save()
        assert Item.objects.get(id=pid, seq=1).name == "c"

        with BatchQuery() as b:
            for seq in range(2, 6):
                Item.batch(b).create(id=pid, seq=seq, name=f"n{seq}")
        assert Item.objects.filter(id=pid).count() == 5
        assert [i.seq for i in Item.objects.filter(id=pid)] == [5, 4, 3, 2, 1]  # DESC
        assert [i.seq for i in Item.objects.filter(id=pid, seq__gt=2)] == [5, 4, 3]
        assert Item.objects.filter(id=pid, seq__lt=3).count() == 2
        Item.objects(id=pid, seq=2).delete()
        Item.objects.get(id=pid, seq=3).delete()
        assert Item.objects.filter(id=pid).count() == 3
        Item.create(id=uuid.uuid4(), seq=1, name="c")
        assert Item.objects.count() == 4  # SELECT COUNT(*) over the whole table (a scan)
        assert Item.objects.filter(name="c").count() == 2  # = on the indexed column
        assert {i.seq for i in Item.objects.all()} == {1, 4, 5}
        with pytest.raises(Item.DoesNotExist):
            Item.objects.get(id=pid, seq=2)

        # the model grows a column and options: sync_table ALTERs the table (ADD, WITH)
        management.sync_table(ItemV2)
        meta = connection.get_cluster().metadata.keyspaces["cqe"].tables["item"]
        assert meta.columns["extra"].cql_type == "text"
        assert meta.options["default_time_to_live"] == 3600
        assert meta.options["gc_grace_seconds"] == 7200
        ItemV2.objects(id=pid, seq=1).update(extra="more")
        assert ItemV2.objects.get(id=pid, seq=1).extra == "more"
        assert Item.objects.get(id=pid, seq=1).name == "c"  # the old model still reads
        management.sync_table(Person)  # creates the user type first
        management.sync_table(Person)
        p = Person.ttl(600).create(addr=Address(street="Main", zipcode=1),
                                   moves=[Address(street="Old", zipcode=2)],
                                   scores={"a": [1, 2]})
        Person.objects(id=p.id).update(moves__append=[Address(street="New", zipcode=3)])
        got = Person.objects.get(id=p.id)
        assert (got.addr.street, got.addr.zipcode, got.scores) == ("Main", 1, {"a": [1, 2]})
        assert [(m.street, m.zipcode) for m in got.moves] == [("Old", 2), ("New", 3)]
        management.drop_table(ItemV2)
        assert "item" not in connection.get_cluster().metadata.keyspaces["cqe"].tables
    finally:
        connection.unregister_connection("default")


# ---------------------------------------------------------------- schema metadata

EXPORT_TYPE = """CREATE TYPE meta.addr (
    street text,
    zip int,
    tags frozen<set<text>>
);"""

EXPORT_TABLE = """CREATE TABLE meta.events (
    k int,
    at timestamp,
    who text,
    a addr,
    fa frozen<addr>,
    fl frozen<list<int>>,
    fm frozen<map<int, text>>,
    l list<int>,
    m map<text, frozen<list<int>>>,
    s set<text>,
    st int static,
    tu frozen<tuple<int, text>>,
    PRIMARY KEY (k, at, who)
) WITH CLUSTERING ORDER BY (at DESC, who ASC)
    AND additional_write_policy = '99p'
    AND bloom_filter_fp_chance = 0.01
    AND caching = {'keys': 'ALL', 'rows_per_partition': 'NONE'}
    AND cdc = false
    AND comment = 'app events'
    AND compaction = {'class': 'org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy',
        'max_threshold': '32', 'min_threshold': '4'}
    AND compression = {'chunk_length_in_kb': '16',
        'class': 'org.apache.cassandra.io.compress.LZ4Compressor'}
    AND crc_check_chance = 1.0
    AND default_time_to_live = 0
    AND gc_grace_seconds = 864000
    AND max_index_interval = 2048
    AND memtable_flush_period_in_ms = 0
    AND min_index_interval = 128
    AND read_repair = 'BLOCKING'
    AND speculative_retry = '99p';"""


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_export_as_string_matches_create(shared_cluster: LocalCluster, session: Session) -> None:
    _ks(session, "meta")
    session.execute(EXPORT_TYPE)
    session.execute(EXPORT_TABLE)
    ks_meta = session.cluster.metadata.keyspaces["meta"]
    assert _norm(ks_meta.user_types["addr"].export_as_string()) == _norm(EXPORT_TYPE)
    assert _norm(ks_meta.tables["events"].export_as_string()) == _norm(EXPORT_TABLE)
    # a fresh client (full schema load, not the targeted refresh) sees the same
    other = shared_cluster.session_to(shared_cluster.nodes[2].address)
    table = other.cluster.metadata.keyspaces["meta"].tables["events"]
    assert _norm(table.export_as_string()) == _norm(EXPORT_TABLE)
    rows = {r.column_name: r for r in other.execute(
        "SELECT * FROM system_schema.columns WHERE keyspace_name = 'meta' "
        "AND table_name = 'events'")}
    assert (rows["at"].kind, rows["at"].position, rows["at"].clustering_order) == (
        "clustering", 0, "desc")
    assert (rows["k"].kind, rows["k"].position, rows["k"].clustering_order) == (
        "partition_key", 0, "none")
    assert (rows["m"].type, rows["m"].kind, rows["m"].position) == (
        "map<text, frozen<list<int>>>", "regular", -1)
    assert rows["st"].kind == "static" and rows["a"].type == "addr"


# ---------------------------------------------------------------- collections


def test_user_type_values_prepared_and_literal(session: Session) -> None:
    _ks(session, "udt")
    session.execute("CREATE TYPE udt.addr (street text, zip int)")
    session.execute("CREATE TABLE udt.t (k int PRIMARY KEY, a frozen<addr>, b addr, "
                    "l list<frozen<addr>>)")
    ins = session.prepare("INSERT INTO udt.t (k, a, b, l) VALUES (?, ?, ?, ?)")
    ins.consistency_level = Q
    assert [c.type.typename for c in ins.column_metadata] == ["int", "addr", "addr", "list"]
    session.execute(ins, (1, ("x", 1), ("y", None), [(None, 3)]))  # the driver's tuple form
    _q(session, "UPDATE udt.t SET b.zip = 7, l = l + [{street: 'z'}] WHERE k = 1")
    sel = session.prepare("SELECT a, b, l FROM udt.t WHERE k = ?")
    sel.consistency_level = Q
    row = session.execute(sel, (1,)).one()
    assert (row.a.street, row.a.zip, row.b.street, row.b.zip) == ("x", 1, "y", 7)
    assert [(e.street, e.zip) for e in row.l] == [(None, 3), ("z", None)]


def test_collection_element_operations(session: Session) -> None:
    _ks(session, "coll")
    session.execute("CREATE TABLE coll.t (k int, c int, s set<text>, m map<text, int>, "
                    "l list<int>, PRIMARY KEY (k, c))")
    _q(session, "INSERT INTO coll.t (k, c, s, m, l) VALUES (1, 1, {'a'}, {'x': 1}, [1, 2, 3])")
    _q(session, "UPDATE coll.t SET s = s + {'b', 'c'}, m['y'] = 2, m = m + {'z': 3}, "
                "l = l + [4], l = [0] + l WHERE k = 1 AND c = 1")
    _q(session, "UPDATE coll.t SET s = s - {'a'} WHERE k = 1 AND c = 1")
    _q(session, "DELETE m['x'] FROM coll.t WHERE k = 1 AND c = 1")
    row = _q(session, "SELECT s, m, l FROM coll.t WHERE k = 1 AND c = 1")[0]
    assert (row.s, dict(row.m), row.l) == ({"b", "c"}, {"y": 2, "z": 3}, [0, 1, 2, 3, 4])
    # the list operations that read before they write, literal and prepared
    _q(session, "UPDATE coll.t SET l[1] = 10 WHERE k = 1 AND c = 1")
    _q(session, "UPDATE coll.t SET l = l - [2, 7] WHERE k = 1 AND c = 1")
    _q(session, "DELETE l[0] FROM coll.t WHERE k = 1 AND c = 1")
    assert _q(session, "SELECT l FROM coll.t WHERE k = 1 AND c = 1")[0].l == [10, 3, 4]
    set_at = session.prepare("UPDATE coll.t SET l[?] = ? WHERE k = ? AND c = ?")
    set_at.consistency_level = Q
    session.execute(set_at, (2, 40, 1, 1))
    remove = session.prepare("UPDATE coll.t SET l = l - ? WHERE k = ? AND c = ?")
    remove.consistency_level = Q
    session.execute(remove, ([3], 1, 1))
    delete_at = session.prepare("DELETE l[?] FROM coll.t WHERE k = ? AND c = ?")
    delete_at.consistency_level = Q
    session.execute(delete_at, (0, 1, 1))
    assert _q(session, "SELECT l FROM coll.t WHERE k = 1 AND c = 1")[0].l == [40]
    with pytest.raises(InvalidRequest, match="List index 5 out of bound, list has size 1"):
        _q(session, "UPDATE coll.t SET l[5] = 1 WHERE k = 1 AND c = 1")
    with pytest.raises(InvalidRequest, match="list which is null"):
        _q(session, "UPDATE coll.t SET l[0] = 1 WHERE k = 2 AND c = 1")
    put = session.prepare("UPDATE coll.t SET m[?] = ?, s = s + ? WHERE k = ? AND c = ?")
    put.consistency_level = Q
    session.execute(put, ("w", 9, {"d"}, 1, 1))
    row = _q(session, "SELECT s, m FROM coll.t WHERE k = 1 AND c = 1")[0]
    assert (row.s, dict(row.m)) == ({"b", "c", "d"}, {"w": 9, "y": 2, "z": 3})


def test_concurrent_set_adds_from_two_clients_keep_both(shared_cluster: LocalCluster,
                                                         session: Session) -> None:
    _ks(session, "conc")
    session.execute("CREATE TABLE conc.t (k int PRIMARY KEY, s set<text>)")
    rounds = 200
    clients = [shared_cluster.session_to(n.address) for n in shared_cluster.nodes[:2]]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        s = clients[i]
        add = s.prepare("UPDATE conc.t SET s = s + ? WHERE k = ?")
        add.consistency_level = Q
        try:
            for r in range(rounds):
                barrier.wait(timeout=30)
                s.execute(add, ({f"client{i}"}, r))
        except BaseException as e:  # reported below
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for r in range(rounds):
        assert _q(session, "SELECT s FROM conc.t WHERE k = %s", r)[0].s == {"client0",
                                                                             "client1"}, r


# ---------------------------------------------------------------- TTL


def test_ttl_expiry_countdown_table_default_and_elements(session: Session) -> None:
    _ks(session, "ttl")
    session.execute("CREATE TABLE ttl.t (k int PRIMARY KEY, v text, w text, s set<text>, "
                    "m map<text, int>)")
    session.execute("CREATE TABLE ttl.d (k int PRIMARY KEY, v text) "
                    "WITH default_time_to_live = 2")
    _q(session, "INSERT INTO ttl.t (k, v, w, s, m) VALUES (1, 'short', 'kept', {'a'}, {'a': 1})")
    _q(session, "UPDATE ttl.t USING TTL 2 SET v = 'gone' WHERE k = 1")
    _q(session, "UPDATE ttl.t USING TTL 2 SET s = s + {'t'}, m['t'] = 2 WHERE k = 1")
    _q(session, "INSERT INTO ttl.t (k, v) VALUES (2, 'row') USING TTL 2")
    _q(session, "INSERT INTO ttl.t (k, v) VALUES (3, 'long') USING TTL 100")
    _q(session, "INSERT INTO ttl.d (k, v) VALUES (1, 'default')")
    _q(session, "INSERT INTO ttl.d (k, v) VALUES (2, 'zero') USING TTL 0")
    first = _q(session, "SELECT ttl(v) FROM ttl.t WHERE k = 3")[0][0]
    assert 99 <= first <= 100
    assert 1 <= _q(session, "SELECT ttl(v) FROM ttl.d WHERE k = 1")[0][0] <= 2
    assert _q(session, "SELECT ttl(v) FROM ttl.d WHERE k = 2")[0][0] is None
    row = _q(session, "SELECT v, s, m FROM ttl.t WHERE k = 1")[0]
    assert (row.v, row.s, dict(row.m)) == ("gone", {"a", "t"}, {"a": 1, "t": 2})
    time.sleep(3.2)
    row = _q(session, "SELECT v, w, s, m FROM ttl.t WHERE k = 1")[0]
    assert (row.v, row.w, row.s, dict(row.m)) == (None, "kept", {"a"}, {"a": 1})
    assert _q(session, "SELECT * FROM ttl.t WHERE k = 2") == []
    assert _q(session, "SELECT * FROM ttl.d WHERE k = 1") == []
    assert _q(session, "SELECT v FROM ttl.d WHERE k = 2")[0].v == "zero"
    later = _q(session, "SELECT ttl(v) FROM ttl.t WHERE k = 3")[0][0]
    assert later < first  # counts down


# ---------------------------------------------------------------- JSON

JSON_TABLE = ("CREATE TABLE js.t (k int, c text, b blob, u uuid, ts timestamp, d date, "
              "f double, ok boolean, big varint, dec decimal, ip inet, s set<int>, "
              "m map<int, text>, l list<text>, a frozen<addr>, tu tuple<int, text>, "
              "\"Mixed\" int, PRIMARY KEY (k, c))")


def test_select_json_and_insert_json(session: Session) -> None:
    _ks(session, "js")
    session.execute("CREATE TYPE js.addr (street text, zip int)")
    session.execute(JSON_TABLE)
    u = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
    _q(session, "INSERT INTO js.t (k, c, b, u, ts, d, f, ok, big, dec, ip, s, m, l, a, tu, "
                f"\"Mixed\") VALUES (1, 'x\"y', 0x0102, {u}, '2024-01-02 03:04:05.678+0000', "
                "'2024-01-02', 1.5, true, 12345678901234567890, 1.25, '10.0.0.1', {3, 1}, "
                "{2: 'b', 1: 'a'}, ['p', 'q'], {street: 'Main', zip: 5}, (7, 'z'), 9)")
    (row,) = _q(session, "SELECT JSON * FROM js.t WHERE k = 1")
    assert row[0] == (
        '{"k": 1, "c": "x\\"y", "Mixed": 9, "a": {"street": "Main", "zip": 5}, '
        '"b": "0x0102", "big": 12345678901234567890, "d": "2024-01-02", "dec": 1.25, '
        '"f": 1.5, "ip": "10.0.0.1", "l": ["p", "q"], "m": {"1": "a", "2": "b"}, "ok": true, '
        '"s": [1, 3], "ts": "2024-01-02 03:04:05.678Z", "tu": [7, "z"], '
        f'"u": "{u}"}}'.replace('"Mixed"', '"\\"Mixed\\""'))
    (row,) = _q(session, "SELECT JSON k, ts AS when, toJson(m) FROM js.t WHERE k = 1")
    assert json.loads(row[0]) == {"k": 1, "when": "2024-01-02 03:04:05.678Z",
                                  "system.tojson(m)": '{"1": "a", "2": "b"}'}
    # INSERT JSON: the SELECT JSON text written back gives the same row
    doc = _q(session, "SELECT JSON * FROM js.t WHERE k = 1")[0][0]
    _q(session, "INSERT INTO js.t JSON %s", doc.replace('"k": 1', '"k": 2'))
    assert _q(session, "SELECT JSON * FROM js.t WHERE k = 2")[0][0] == doc.replace(
        '"k": 1', '"k": 2')
    # DEFAULT UNSET keeps the columns left out, DEFAULT NULL (the default) nulls them
    _q(session, "INSERT INTO js.t JSON '{\"k\": 2, \"c\": \"x\\\"y\", \"f\": 2.5}' DEFAULT UNSET")
    row = _q(session, "SELECT f, ok, s FROM js.t WHERE k = 2")[0]
    assert (row.f, row.ok, row.s) == (2.5, True, {1, 3})
    ins = session.prepare("INSERT INTO js.t JSON ?")
    ins.consistency_level = Q
    session.execute(ins, ['{"k": 2, "c": "x\\"y", "ok": false, "ts": 1704164645678}'])
    row = _q(session, "SELECT f, ok, s, ts FROM js.t WHERE k = 2")[0]
    assert (row.f, row.ok, row.s) == (None, False, None)
    assert row.ts == datetime.datetime(2024, 1, 2, 3, 4, 5, 678000)
    assert json.loads(_q(session, "SELECT JSON count(*) FROM js.t")[0][0]) == {"count": 2}
    assert sorted(json.loads(r[0])["k"] for r in _q(session, "SELECT JSON k FROM js.t")) == [
        1, 2]  # scans render JSON too
    with pytest.raises(InvalidRequest, match="unrecognized column: nope"):
        _q(session, "INSERT INTO js.t JSON '{\"k\": 3, \"c\": \"a\", \"nope\": 1}'")
    with pytest.raises(InvalidRequest, match="Error decoding JSON value for f"):
        _q(session, "INSERT INTO js.t JSON '{\"k\": 3, \"c\": \"a\", \"f\": [1]}'")


# ---------------------------------------------------------------- functions


def test_functions_applications_use(session: Session) -> None:
    _ks(session, "fn")
    session.execute("CREATE TABLE fn.ev (k int, t timeuuid, id uuid, at timestamp, day date, "
                    "n int, v text, PRIMARY KEY (k, t))")
    before = datetime.datetime.utcnow() - datetime.timedelta(seconds=2)  # allow-real-clock
    for n in range(1, 5):
        _q(session, "INSERT INTO fn.ev (k, t, id, at, day, n, v) VALUES (1, now(), uuid(), "
                    f"toTimestamp(now()), currentDate(), {n}, %s) USING TIMESTAMP {1000 + n}",
           None if n == 4 else f"v{n}")
    _q(session, "UPDATE fn.ev USING TTL 500 SET v = 'x' WHERE k = 2 AND t = now()")
    after = datetime.datetime.utcnow() + datetime.timedelta(seconds=2)  # allow-real-clock
    rows = _q(session, "SELECT t, id, at, day, toTimestamp(t) AS tt, toDate(at) AS dd, "
                       "toUnixTimestamp(at) AS ms, writetime(n) AS wt, token(k) AS tok "
                       "FROM fn.ev WHERE k = 1")
    assert len(rows) == 4 and len({r.t for r in rows}) == 4 and len({r.id for r in rows}) == 4
    for r in rows:
        assert r.t.version == 1 and r.id.version == 4
        assert before <= r.at <= after and abs((r.tt - r.at).total_seconds()) < 1
        assert r.dd == r.day and r.ms == int((r.at - datetime.datetime(1970, 1, 1))
                                             .total_seconds() * 1000)
        assert 1001 <= r.wt <= 1004 and r.tok == rows[0].tok
    assert _q(session, "SELECT token(k) FROM fn.ev WHERE k = 1 LIMIT 1")[0][0] == rows[0].tok
    lo = (min(r.at for r in rows) - datetime.timedelta(milliseconds=1)).strftime(
        "%Y-%m-%d %H:%M:%S.%f")[:-3] + "+0000"
    hi = (after + datetime.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S") + "+0000"
    got = _q(session, f"SELECT n FROM fn.ev WHERE k = 1 AND t > maxTimeuuid('{lo}') "
                      f"AND t < minTimeuuid('{hi}')")
    assert sorted(r.n for r in got) == [1, 2, 3, 4]
    assert _q(session, f"SELECT n FROM fn.ev WHERE k = 1 AND t < minTimeuuid('{lo}')") == []
    agg = _q(session, "SELECT count(*), count(v), min(n), max(n), sum(n), avg(n), "
                      "CAST(avg(n) AS double) FROM fn.ev WHERE k = 1")[0]
    assert tuple(agg) == (4, 3, 1, 4, 10, 2, 2.0)
    (r,) = _q(session, "SELECT CAST(n AS text), CAST(n AS bigint), ttl(v), now(), "
                       "currentTimestamp(), currentDate(), uuid() FROM fn.ev WHERE k = 2")
    assert r[0] is None and r[1] is None and 490 <= r[2] <= 500
    assert r[3].version == 1 and before <= r[4] <= after and r[5] is not None
    assert r[6].version == 4
    (r,) = _q(session, "SELECT CAST(n AS text) AS nt, CAST(n AS double) AS nd, "
                       "minTimeuuid('2020-01-01 00:00:00+0000') AS lo FROM fn.ev "
                       "WHERE k = 1 LIMIT 1")
    assert (r.nt, r.nd) in {("1", 1.0), ("2", 2.0), ("3", 3.0), ("4", 4.0)}
    assert r.lo.time == uuid.UUID("13814000-1dd2-11b2-8080-808080808080").time + \
        (datetime.datetime(2020, 1, 1) - datetime.datetime(1970, 1, 1)).days * 864_000_000_000
