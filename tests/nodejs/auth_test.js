// The stock Node.js cassandra-driver logging in to a PasswordAuthenticator node.
// Usage: node auth_test.js HOST PORT DATACENTER [USER PASSWORD]
// Prints "ok <release_version>" or "failed <error name>: <message>"; exits 0 either way
// (non-zero only for an unexpected failure of the script itself).
'use strict';
const cassandra = require('cassandra-driver');

const [host, port, dc, user, password] = process.argv.slice(2);

async function main() {
  const options = {
    contactPoints: [host],
    localDataCenter: dc,
    protocolOptions: { port: Number(port) },
  };
  if (user !== undefined) {
    options.authProvider = new cassandra.auth.PlainTextAuthProvider(user, password);
  }
  const client = new cassandra.Client(options);
  try {
    await client.connect();
    const rs = await client.execute('SELECT release_version FROM system.local');
    console.log(`ok ${rs.rows[0].release_version}`);
  } catch (e) {
    const inner = e.innerErrors ? Object.values(e.innerErrors)[0] : e;
    console.log(`failed ${inner.name}: ${inner.message}`);
  } finally {
    await client.shutdown();
  }
}

main().catch((e) => { console.error(e); process.exit(2); });
