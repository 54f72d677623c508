"""The admin API of a node: named operations, JSON in and out, served over HTTP.

Theory of operation
-------------------
Each node serves ``POST /operations/<name>`` (and ``GET /operations``, the list) on its own
address and ``admin_port`` (Cassandra's JMX port, 7199, by default; ``runtime.admin``). An
operation is a name, a handler and a one-line description, registered in ``registry`` by the
``@operation`` decorator of the module that defines it; ``admin.operations`` imports every such
module, so adding one is: write a handler in a module (reading ``ctx.node`` for state, calling
``ctx.runtime`` for what only the node process can do: flush, snapshot, drain), import that
module in ``admin.operations``, and add a nodetool command that calls it (``nodetool.commands``).

Handlers that read state are pure (they read the synchronous ``Node`` and return plain data); the
HTTP server calls them on the node's event loop, between two ticks, so they never race the node.
Nothing an operation returns is table data: only metadata, sizes, counts and latencies.

Credentials: under PasswordAuthenticator every request must carry HTTP Basic credentials
(nodetool's ``-u``/``-pw``/``-pwf``) of a role that can LOGIN and is a superuser; they are
checked with the CQL login's own path (``Auth.login``) by
``runtime.admin.SuperuserAuthenticator``, and a refused request (401, or 403 for a role that is
no superuser) runs nothing. Under AllowAllAuthenticator every request on the node's own address
is served, as JMX with ``LOCAL_JMX=yes``.
"""
