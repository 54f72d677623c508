// The stock Node.js cassandra-driver running one statement as a role (authorization checks).
// Usage: node authz_test.js HOST PORT DATACENTER USER PASSWORD QUERY
// Prints "ok <n> rows" or "failed <error name> <code>: <message>"; exits 0 either way
// (non-zero only for an unexpected failure of the script itself).
'use strict';
const cassandra = require('cassandra-driver');

const [host, port, dc, user, password, query] = process.argv.slice(2);

async function main() {
  const client = new cassandra.Client({
    contactPoints: [host],
    localDataCenter: dc,
    protocolOptions: { port: Number(port) },
    authProvider: new cassandra.auth.PlainTextAuthProvider(user, password),
  });
  try {
    await client.connect();
    const rs = await client.execute(query);
    console.log(`ok ${rs.rows ? rs.rows.length : 0} rows`);
  } catch (e) {
    console.log(`failed ${e.name} ${e.code}: ${e.message}`);
  } finally {
    await client.shutdown();
  }
}

main().catch((e) => { console.error(e); process.exit(2); });
