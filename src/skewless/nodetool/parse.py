"""Parsers of nodetool's text output, the way operators' scripts and test harnesses (ccm,
cassandra-dtest) read Cassandra's: a regular expression per line kind, whitespace-separated
columns. Written from the output format, for the tests and the lab to drive real clusters
through ``nodetool`` as they would drive Cassandra."""

from __future__ import annotations

import re
from dataclasses import dataclass

STATUS_LINE = re.compile(
    r"^(?P<status>[UD?])(?P<state>[NLJM?])\s+(?P<address>\d+\.\d+\.\d+\.\d+)\s+"
    r"(?P<load>\?|[\d.]+ (?:bytes|KiB|MiB|GiB|TiB))\s+(?P<tokens>\d+)\s+(?P<owns>\?|[\d.]+%)\s+"
    r"(?P<host_id>[0-9a-f-]{36})\s+(?P<rack>\S+)\s*$")
RING_LINE = re.compile(
    r"^(?P<address>\d+\.\d+\.\d+\.\d+)\s+(?P<rack>\S+)\s+(?P<status>Up|Down|\?)\s+"
    r"(?P<state>Normal|Leaving|Joining|Moving)\s+(?P<load>\?|[\d.]+ \S+)\s+"
    r"(?P<owns>\?|[\d.]+%)\s+(?P<token>-?\d+)\s*$")


@dataclass(frozen=True, slots=True)
class StatusLine:
    dc: str
    status: str  # U / D
    state: str  # N / L / J / M
    address: str
    load: str
    tokens: int
    owns: float | None  # percent
    host_id: str
    rack: str


def parse_status(text: str) -> list[StatusLine]:
    out = []
    dc = ""
    for line in text.splitlines():
        if line.startswith("Datacenter: "):
            dc = line.removeprefix("Datacenter: ").strip()
            continue
        m = STATUS_LINE.match(line)
        if m:
            owns = m["owns"]
            out.append(StatusLine(dc, m["status"], m["state"], m["address"], m["load"],
                                  int(m["tokens"]), None if owns == "?" else float(owns[:-1]),
                                  m["host_id"], m["rack"]))
    return out


def parse_ring(text: str) -> list[tuple[str, str, str, int]]:
    """(address, status, state, token) of each token line."""
    return [(m["address"], m["status"], m["state"], int(m["token"]))
            for m in map(RING_LINE.match, text.splitlines()) if m]


def parse_schema_versions(text: str) -> dict[str, list[str]]:
    """``nodetool describecluster``'s Schema versions section: version -> addresses."""
    out: dict[str, list[str]] = {}
    inside = False
    for line in text.splitlines():
        if line.strip() == "Schema versions:":
            inside = True
            continue
        if inside and line.startswith("\t\t"):
            version, _, addresses = line.strip().partition(": ")
            out[version] = [a.strip() for a in addresses.strip("[]").split(",") if a.strip()]
        elif inside and line.strip() and not line.startswith("\t\t"):
            break
    return out


def parse_colon_lines(text: str) -> dict[str, str]:
    """``Name : value`` lines (nodetool info) -> {name: value}; repeated names keep the last."""
    out = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip()] = value.strip()
    return out


def parse_snapshots(text: str) -> list[str]:
    """The snapshot names of ``nodetool listsnapshots``."""
    lines = text.splitlines()
    if "There are no snapshots" in lines:
        return []
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("Snapshot name"))
    except StopIteration:
        return []
    names = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        names.append(line.split()[0])
    return names
