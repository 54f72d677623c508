"""Client authentication and roles, as Cassandra's PasswordAuthenticator and
CassandraRoleManager.

Theory of operation
-------------------
* ``model``: names and values (Cassandra's class names, the ``system_auth`` consistency rule,
  ``Role``, ``AuthenticatedUser``), SASL PLAIN decoding, the password hasher interface.
* ``roles``: the role manager. Roles live in ``system_auth.roles`` / ``role_members``, real
  replicated tables (``schema.system_tables``); every read and write is an ordinary CQL
  statement run through the executor as an *internal* query (``Executor.internal``), at
  Cassandra 4.1+'s levels: auth_read_consistency_level / auth_write_consistency_level
  (LOCAL_QUORUM / EACH_QUORUM by default), QUORUM for the default superuser ``cassandra``.
* ``service``: the per-node ``Auth``: the SASL exchange (read the role, bcrypt-check the
  password through the injected hasher, which the runtime runs in a worker thread), a small
  credentials cache (Cassandra's credentials_validity), the authenticated user of each
  connection and its transitive roles (reloaded after roles_validity), and the one-time
  default superuser setup.
* ``statements``: CREATE/ALTER/DROP ROLE and USER, LIST ROLES/USERS, GRANT/REVOKE role.

Pure: no I/O, no clock but the node's, randomness injected; bcrypt runs behind ``Hasher``.

The interface other features build on (authorization): ``Executor.auth`` is the ``Auth``;
``auth.user_of(conn)`` is the connection's ``AuthenticatedUser`` (None when anonymous, under
AllowAllAuthenticator), with ``.name``, ``.roles`` (transitive memberships, itself included)
and ``.superuser``; ``auth.role_of(conn)``; ``auth.roles_of(role)`` / ``auth.is_superuser(role)``
answer from the roles cache (None when not cached), ``auth.load(role, done)`` loads it.
"""
