// The stock Node.js cassandra-driver against a Skewless cluster: prepared INSERT/SELECT, a
// batch, collection element add/remove. Usage: node client_test.js HOST PORT DATACENTER
// Prints one line per check and "ALL OK" at the end; exits non-zero on the first failure.
'use strict';
const assert = require('assert');
const cassandra = require('cassandra-driver');

const [host, port, dc] = process.argv.slice(2);

async function main() {
  const client = new cassandra.Client({
    contactPoints: [host],
    localDataCenter: dc,
    protocolOptions: { port: Number(port) },
  });
  await client.connect();
  const hosts = client.hosts.values().map((h) => h.address);
  console.log(`connected; hosts ${hosts.join(' ')}; protocol ${client.controlConnection.protocolVersion}`);
  const q = { prepare: true, consistency: cassandra.types.consistencies.quorum };

  await client.execute("CREATE KEYSPACE IF NOT EXISTS nodejs WITH replication = " +
    "{'class': 'SimpleStrategy', 'replication_factor': 3}");
  await client.execute('CREATE TABLE IF NOT EXISTS nodejs.items (id uuid, seq int, name text, ' +
    'tags set<text>, attrs map<text, int>, hist list<int>, PRIMARY KEY (id, seq))');

  const id = cassandra.types.Uuid.random();
  await client.execute('INSERT INTO nodejs.items (id, seq, name, tags) VALUES (?, ?, ?, ?)',
    [id, 1, 'first', ['a', 'b']], q);
  let rs = await client.execute('SELECT name, tags FROM nodejs.items WHERE id = ? AND seq = ?',
    [id, 1], q);
  assert.strictEqual(rs.rows.length, 1);
  assert.strictEqual(rs.first().name, 'first');
  assert.deepStrictEqual(rs.first().tags, ['a', 'b']);
  console.log('prepared INSERT/SELECT ok');

  await client.batch([
    { query: 'INSERT INTO nodejs.items (id, seq, name) VALUES (?, ?, ?)', params: [id, 2, 'two'] },
    { query: 'INSERT INTO nodejs.items (id, seq, name) VALUES (?, ?, ?)', params: [id, 3, 'three'] },
    { query: 'UPDATE nodejs.items SET name = ? WHERE id = ? AND seq = ?', params: ['one', id, 1] },
  ], q);
  rs = await client.execute('SELECT seq, name FROM nodejs.items WHERE id = ?', [id], q);
  assert.deepStrictEqual(rs.rows.map((r) => [r.seq, r.name]), [[1, 'one'], [2, 'two'], [3, 'three']]);
  rs = await client.execute('SELECT count(*) FROM nodejs.items WHERE id = ?', [id], q);
  assert.strictEqual(rs.first().count.toNumber(), 3);
  console.log('batch ok');

  const where = ' WHERE id = ? AND seq = ?';
  await client.execute('UPDATE nodejs.items SET tags = tags + ?' + where, [['c', 'd'], id, 1], q);
  await client.execute('UPDATE nodejs.items SET tags = tags - ?' + where, [['a'], id, 1], q);
  await client.execute('UPDATE nodejs.items SET attrs[?] = ?' + where, ['x', 1, id, 1], q);
  await client.execute('UPDATE nodejs.items SET attrs = attrs + ?' + where, [{ y: 2, z: 3 }, id, 1], q);
  await client.execute('DELETE attrs[?] FROM nodejs.items' + where, ['y', id, 1], q);
  await client.execute('UPDATE nodejs.items SET hist = hist + ?' + where, [[1, 2, 3], id, 1], q);
  await client.execute('UPDATE nodejs.items SET hist = ? + hist' + where, [[0], id, 1], q);
  await client.execute('UPDATE nodejs.items SET hist[?] = ?' + where, [1, 10, id, 1], q);
  await client.execute('UPDATE nodejs.items SET hist = hist - ?' + where, [[2], id, 1], q);
  rs = await client.execute('SELECT tags, attrs, hist FROM nodejs.items' + where, [id, 1], q);
  const row = rs.first();
  assert.deepStrictEqual(row.tags, ['b', 'c', 'd']);
  assert.deepStrictEqual(row.attrs, { x: 1, z: 3 });
  assert.deepStrictEqual(row.hist, [0, 10, 3]);
  console.log('collections ok');

  // More than one v5 segment (128 KiB) each way: a 200 KB value, then 300 KB of rows.
  const big = 'xyzzy'.repeat(40000);
  for (let seq = 10; seq < 13; seq++) {
    await client.execute('INSERT INTO nodejs.items (id, seq, name) VALUES (?, ?, ?)',
      [id, seq, big + seq], q);
  }
  rs = await client.execute('SELECT seq, name FROM nodejs.items WHERE id = ? AND seq >= 10',
    [id], q);
  assert.deepStrictEqual(rs.rows.map((r) => r.name.length), [200002, 200002, 200002]);
  assert.strictEqual(rs.rows[2].name, big + 12);
  console.log('big values ok');

  await client.shutdown();
  console.log('ALL OK');
}

main().catch((err) => {
  console.error('FAILED:', err && err.stack ? err.stack : err);
  process.exit(1);
});
