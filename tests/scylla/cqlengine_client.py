"""Run with scylla-driver's own interpreter (tests/integration/test_scylla_driver.py): the
scylla-driver's CQLEngine, unchanged, against a live Skewless cluster.

argv: contact address, CQL port, datacenter name. Prints one line per step and "ALL OK".
"""

import sys
import uuid

import cassandra
from cassandra.cqlengine import columns, connection, management
from cassandra.cqlengine.models import Model

HOST, PORT, DC = sys.argv[1], int(sys.argv[2]), sys.argv[3]
KS = "cqlengine_scylla"
KS_NTS = "cqlengine_scylla_nts"


class Person(Model):
    __keyspace__ = KS
    id = columns.UUID(primary_key=True, default=uuid.uuid4)
    name = columns.Text(index=True)
    age = columns.Integer()
    tags = columns.Set(columns.Text)
    scores = columns.Map(columns.Text, columns.Integer)


class PersonMore(Model):  # the same table with one more column: sync_table must ALTER it
    __keyspace__ = KS
    __table_name__ = "person"
    id = columns.UUID(primary_key=True, default=uuid.uuid4)
    name = columns.Text(index=True)
    age = columns.Integer()
    tags = columns.Set(columns.Text)
    scores = columns.Map(columns.Text, columns.Integer)
    email = columns.Text()


connection.setup([HOST], KS, port=PORT, protocol_version=4)
print(f"connected with scylla-driver {cassandra.__version__}")
management.drop_keyspace(KS)
management.create_keyspace_simple(KS, 1)
management.create_keyspace_network_topology(KS_NTS, {DC: 1})
session = connection.get_session()
session.execute("DROP KEYSPACE IF EXISTS cqlengine_scylla_rf")
session.execute("CREATE KEYSPACE cqlengine_scylla_rf WITH replication = "
                "{'class': 'NetworkTopologyStrategy', 'replication_factor': 2}")
row = session.execute("SELECT replication FROM system_schema.keyspaces "
                      "WHERE keyspace_name = 'cqlengine_scylla_rf'").one()
assert dict(row["replication"]) == {
    "class": "org.apache.cassandra.locator.NetworkTopologyStrategy", DC: "2"}, row
session.execute("DROP KEYSPACE cqlengine_scylla_rf")
print("keyspaces ok")
management.sync_table(Person)
management.sync_table(Person)  # idempotent
management.sync_table(PersonMore)  # adds the email column
print("sync_table ok")
p = Person.create(name="ada", age=36, tags={"math"}, scores={"a": 1})
got = Person.get(id=p.id)
assert (got.name, got.age, got.tags, got.scores) == ("ada", 36, {"math"}, {"a": 1}), got
got.update(age=37)
assert Person.objects(id=p.id).first().age == 37
m = PersonMore.get(id=p.id)
assert m.email is None
m.update(email="ada@example.org")
assert PersonMore.get(id=p.id).email == "ada@example.org"
Person.objects(id=p.id).delete()
assert Person.objects(id=p.id).count() == 0
print("model round trip ok")
management.drop_table(Person)
management.drop_keyspace(KS)
management.drop_keyspace(KS_NTS)
print("ALL OK")
