"""The cluster metadata log: schema and topology changes agreed by multi-Paxos, applied in log
order on every node. ``paxos`` is the consensus core, ``entries`` the log's entries and the
state they build, ``service`` the glue to a ``Node`` (proposing, applying, catch-up)."""
