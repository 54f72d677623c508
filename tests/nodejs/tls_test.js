// The stock Node.js cassandra-driver over TLS (sslOptions: the cluster CA, hostname checked
// against the node's IP subjectAltName). Usage: node tls_test.js HOST PORT DATACENTER CA_PEM
// Prints one line per check and "ALL OK" at the end; exits non-zero on the first failure.
'use strict';
const assert = require('assert');
const fs = require('fs');
const cassandra = require('cassandra-driver');

const [host, port, dc, caFile] = process.argv.slice(2);

async function main() {
  const client = new cassandra.Client({
    contactPoints: [host],
    localDataCenter: dc,
    protocolOptions: { port: Number(port) },
    sslOptions: { ca: [fs.readFileSync(caFile)], rejectUnauthorized: true },
  });
  await client.connect();
  console.log(`connected over TLS; protocol ${client.controlConnection.protocolVersion}`);
  const rs = await client.execute("SELECT release_version FROM system.local WHERE key = 'local'");
  assert.strictEqual(rs.rows.length, 1);
  await client.execute('CREATE TABLE IF NOT EXISTS tls.nodejs (k int PRIMARY KEY, v text)');
  await client.execute('INSERT INTO tls.nodejs (k, v) VALUES (?, ?)', [1, 'over tls'],
    { prepare: true });
  const row = (await client.execute('SELECT v FROM tls.nodejs WHERE k = ?', [1],
    { prepare: true })).first();
  assert.strictEqual(row.v, 'over tls');
  console.log('queries ok');
  await client.shutdown();
  console.log('ALL OK');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
