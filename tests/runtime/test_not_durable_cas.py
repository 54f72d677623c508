"""runtime.disk_watch.not_durable and LWTs: a Ready whose sync failed carries no LWT
acknowledgement: an ``[applied]`` result becomes WriteFailure with write_type CAS (its commit
may rest on that sync), other rows go as they are, and Paxos acknowledgements are dropped."""

from __future__ import annotations

from skewless.cql.cas_results import APPLIED
from skewless.cql.results import ColumnSpec, RowsResult
from skewless.errors import WriteFailure
from skewless.node.effects import Ready, Reply
from skewless.node.messages import Envelope, LwtCommitAck
from skewless.runtime.disk_watch import not_durable


def test_an_applied_answer_becomes_a_cas_write_failure() -> None:
    applied = RowsResult((ColumnSpec("ks", "t", APPLIED, "boolean"),), ((b"\x01",),))
    rows = RowsResult((ColumnSpec("ks", "t", "v", "int"),), ((b"\x00\x00\x00\x01",),))
    ack = Envelope(1, LwtCommitAck(5, ""))
    ready = Ready(must_sync=True, sends=[("127.0.0.2", ack)],
                  replies=[Reply(1, 1, applied), Reply(1, 2, rows)])
    out = not_durable(ready, "storage write failed on 127.0.0.9: IO error")
    first = out.replies[0].body
    assert isinstance(first, WriteFailure) and first.write_type == "CAS"
    assert "could not be made durable" in str(first)
    assert out.replies[1].body is rows
    assert out.sends == []  # a Paxos acknowledgement never leaves without its sync
