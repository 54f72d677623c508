"""The replica side of repair: hash a range into a Merkle tree, hand out the partitions of
differing leaves, apply what the coordinator streams, record a repaired range.

Every answer is built from the partitions as stored (``Storage.stored``: tombstones and TTL'd
cells as written), so the hashes of two replicas agree exactly when their data does. Streamed
partitions go through ``Node.apply_local``, the path of every write: the merge keeps the newest
timestamp of each cell, so a repair can only add what a replica lacks (clock-safe, as read
repair). A peer's bad request is answered with an error, never raised.

Pure, like the node: it acts only through the node it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from skewless import limits
from skewless.errors import RemoteProtocolError
from skewless.node.messages import (
    LeafRequest,
    LeafResponse,
    MerkleLeavesRequest,
    MerkleLeavesResponse,
    MerkleTreeRequest,
    MerkleTreeResponse,
    RangeRepaired,
    RepairStream,
    RepairStreamAck,
)
from skewless.node.repair import merkle
from skewless.ring import MAX_TOKEN, MIN_TOKEN, token_of
from skewless.storage import codec
from skewless.storage.diskspace import DiskFull

if TYPE_CHECKING:
    from skewless.node.node import Node


def _bad_range(start: int, end: int) -> bool:
    return not MIN_TOKEN <= start < end <= MAX_TOKEN


def local_tree(node: Node, table: str, start: int, end: int) -> tuple[int, merkle.Leaves]:
    """(partitions hashed, leaves) of this node's data of ``table`` in (start, end], at once."""
    build = TreeBuild("", 0, table, start, end)
    while not build.step(node, 1 << 62):
        pass
    return build.result()


@dataclass
class TreeBuild:
    """A Merkle tree being built a bounded number of partitions at a time (``step``), so that
    hashing a large range never holds the node for long; for ``sender`` ('' for this node's own
    repair), answering request ``req_id``."""

    sender: str
    req_id: int
    table: str
    start: int
    end: int
    hashes: list[tuple[int, int]] = field(default_factory=list)
    after: bytes | None = None  # the last partition hashed

    def step(self, node: Node, partitions: int) -> bool:
        """Hash up to ``partitions`` more; True when the range is done."""
        keys = node.storage.partition_keys(self.table, self.start, self.end, self.after)
        for key in keys:
            stored = node.storage.stored(self.table, key)
            self.hashes.append(
                (token_of(key), merkle.partition_hash(key, codec.encode_update(stored))))
            self.after = key
            partitions -= 1
            if partitions <= 0:
                return next(keys, None) is None
        return True

    def result(self) -> tuple[int, merkle.Leaves]:
        depth = merkle.depth_for(len(self.hashes))
        return len(self.hashes), merkle.build(self.start, self.end, depth, self.hashes)


def keep_tree(node: Node, sender: str, table: str, start: int, end: int,
              tree: tuple[int, merkle.Leaves]) -> None:
    """Keep a tree built for ``sender`` for its second round (bounded, oldest dropped)."""
    cache = node.active_repair.trees
    cache[(sender, table, start, end)] = tree
    while len(cache) > limits.repair_trees_cached_max:
        del cache[next(iter(cache))]


def tree_request(node: Node, sender: str, m: MerkleTreeRequest) -> MerkleTreeResponse | None:
    """An error answer, or None: the tree is being built (``tree_reply`` answers when done)."""
    if node.table_by_key(m.table) is None:
        return MerkleTreeResponse(m.req_id, f"unknown table {m.table}", 0, 0, b"")
    if _bad_range(m.start_token, m.end_token):
        return MerkleTreeResponse(m.req_id, f"bad range ({m.start_token},{m.end_token}]", 0, 0,
                                  b"")
    node.active_repair.builds.append(
        TreeBuild(sender, m.req_id, m.table, m.start_token, m.end_token))
    return None


def tree_reply(node: Node, build: TreeBuild) -> MerkleTreeResponse:
    """The answer to a tree request whose build is done (the tree kept for the second round)."""
    count, leaves = tree = build.result()
    keep_tree(node, build.sender, build.table, build.start, build.end, tree)
    depth = merkle.depth_of(leaves)
    top = merkle.at_depth(leaves, min(depth, limits.merkle_top_depth))
    return MerkleTreeResponse(build.req_id, "", count, depth, merkle.encode_leaves(top))


def subtree_reply(node: Node, sender: str, m: MerkleLeavesRequest) -> MerkleLeavesResponse:
    if node.table_by_key(m.table) is None:
        return MerkleLeavesResponse(m.req_id, f"unknown table {m.table}", b"")
    if _bad_range(m.start_token, m.end_token):
        return MerkleLeavesResponse(m.req_id, "bad range", b"")
    key = (sender, m.table, m.start_token, m.end_token)
    if key not in node.active_repair.trees:  # dropped from the cache: hashed again, at once
        keep_tree(node, sender, m.table, m.start_token, m.end_token,
                  local_tree(node, m.table, m.start_token, m.end_token))
    _, leaves = node.active_repair.trees[key]
    ok = 0 <= m.level <= m.depth <= merkle.depth_of(leaves) and all(
        0 <= i < 1 << m.level for i in m.nodes)
    if not ok:
        return MerkleLeavesResponse(m.req_id, "bad Merkle tree nodes", b"")
    return MerkleLeavesResponse(m.req_id, "", merkle.encode_leaves(
        merkle.under(leaves, m.level, m.depth, m.nodes)))


def local_leaves(node: Node, table: str, ranges: tuple[tuple[int, int], ...],
                 start_key: bytes, byte_limit: int) -> tuple[list[bytes], int, bytes]:
    """(encoded partitions, ranges done, last key of the next range) from the leaf ranges,
    stopping after the partition that reaches ``byte_limit`` bytes."""
    out: list[bytes] = []
    size = 0
    for i, (start, end) in enumerate(ranges):
        after = start_key if i == 0 and start_key else None
        for key in node.storage.partition_keys(table, start, end, after):
            data = codec.encode_update(node.storage.stored(table, key))
            out.append(data)
            size += len(data)
            if size >= byte_limit:
                return out, i, key
    return out, len(ranges), b""


def leaves_reply(node: Node, m: LeafRequest) -> LeafResponse:
    if node.table_by_key(m.table) is None:
        return LeafResponse(m.req_id, f"unknown table {m.table}", (), 0, b"")
    if any(_bad_range(s, e) for s, e in m.ranges) or m.byte_limit <= 0:
        return LeafResponse(m.req_id, "bad leaf ranges", (), 0, b"")
    parts, done, last = local_leaves(node, m.table, m.ranges, m.start_key, m.byte_limit)
    return LeafResponse(m.req_id, "", tuple(parts), done, last)


def apply_stream(node: Node, partitions: tuple[bytes, ...]) -> str:
    """Merge streamed partitions in through the normal apply path; '' or the error."""
    try:
        updates = [codec.decode_update(p) for p in partitions]
    except RemoteProtocolError as e:
        return str(e)
    for u in updates:
        if node.table_by_key(u.table) is None:
            return f"unknown table {u.table}"
    try:
        for u in updates:
            node.apply_local(u)
    except DiskFull as e:  # the repair coordinator sees the failure
        return str(e)
    return ""


def stream_reply(node: Node, m: RepairStream) -> RepairStreamAck:
    return RepairStreamAck(m.req_id, apply_stream(node, m.partitions))


def on_repaired(node: Node, m: RangeRepaired) -> None:
    if node.table_by_key(m.table) is None or _bad_range(m.start_token, m.end_token):
        return
    node.active_repair.repaired.record(m.table, m.start_token, m.end_token, m.repaired_at_s)
