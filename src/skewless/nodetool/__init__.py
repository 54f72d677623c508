"""``nodetool``: Cassandra's node administration command, against a Skewless node's admin
endpoint (``skewless.admin``), in Cassandra's syntax and output formats.

``client`` speaks to the endpoint, ``commands`` holds the command registry (one decorated
function per command: its arguments, the admin operation it calls, its formatter), the
``formats_*`` modules render the operations' JSON as Cassandra's nodetool prints it (pure
functions of the data, unit-tested against fixed states), and ``cli`` parses
``nodetool [-h host] [-p port] [-u user] [-pw password] <command> [args]``.
"""
