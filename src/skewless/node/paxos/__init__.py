"""Lightweight transactions: Paxos per partition, pure cores (issue 14).

``ballot`` (ballots from the hybrid clock, the commit timestamp), ``ports`` (the durable and
data ports the host provides), ``acceptor`` (durable acceptor state per partition),
``proposer`` (one LWT as an explicit record), ``core`` (one node's acceptor and proposers, the
effects it returns). Not wired into the node yet.
"""
