"""What the partition Paxos core (``node.paxos``) asks of its host: two narrow ports.

``Durable`` is the acceptor's and the ballot clock's durable state, a bytes-keyed store: what is
put is durable only after the host's next sync, and the core's effects say when a sync must
come before a send (``Effects.sync``). ``Data`` reads the partition the acceptor holds (the
promise carries it: the read of an LWT travels with its prepare) and applies committed updates
to it (through the node's ordinary apply path; durable, like ``Durable``'s writes, at the next
sync). Both are backed by the node's storage in production, by dicts in the tests.
"""

from __future__ import annotations

from typing import Protocol

from skewless.storage.model import PartitionUpdate


class Durable(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...


class Data(Protocol):
    def read(self, table: str, key: bytes) -> PartitionUpdate:
        """The partition's current contents as stored here (tombstones included; an empty
        update when there is none)."""
        ...

    def apply(self, update: PartitionUpdate) -> None:
        """Merge a committed LWT's update into the partition (as a replica applies a
        mutation)."""
        ...
