"""nodetool's views of one node's work, rendered as Cassandra's nodetool prints them
(``NetStats.java``, ``TpStatsPrinter``, ``TableStatsPrinter``, ``TableHistograms.java``,
``ProxyHistograms.java``, ``Snapshot.java``, ``ListSnapshots.java``, ``ClearSnapshot.java``).
Only what Skewless measures is printed: a line Cassandra prints about a structure Skewless does
not have (SSTable bloom filters, key caches, memtable switch counts) is left out, not invented."""

from __future__ import annotations

from typing import Any

from skewless.nodetool.text import file_size, java_float, table

Json = dict[str, Any]
PERCENTILE_NAMES = ("50%", "75%", "95%", "98%", "99%", "Min", "Max")


def format_netstats(data: Json, human: bool) -> str:
    out = [f"Mode: {data['mode']}"]
    streams = data["streams"]
    if not streams:
        out.append("Not sending any streams.")
    for s in streams:  # the streaming work fills these (see admin.ops_local.netstats)
        out.append(f"{s['description']} {s['plan_id']}")
        for peer in s["sessions"]:
            out.append(f"    {peer['peer']}")
            for verb, done_verb, key in (("Receiving", "received", "receiving"),
                                         ("Sending", "sent", "sending")):
                if key not in peer:
                    continue
                p = peer[key]
                size = file_size(p["bytes"]) if human else f"{p['bytes']} bytes"
                done = file_size(p["done_bytes"]) if human else f"{p['done_bytes']} bytes"
                out.append(
                    f"        {verb} {p['files']} files, {size} total. Already {done_verb} "
                    f"{p['done_files']} files ({_pct(p['done_files'], p['files'])}%), "
                    f"{done} total ({_pct(p['done_bytes'], p['bytes'])}%)")
    m = data["messages"]
    if m is None:
        return "\n".join(out) + "\n"
    out.append(f"{'Pool Name':<25}{'Active':>10}{'Pending':>10}{'Completed':>15}{'Dropped':>10}")
    out.append(f"{'Small messages':<25}{'n/a':>10}{m['pending']:>10}{m['sent']:>15}"
               f"{m['dropped']:>10}")
    return "\n".join(out) + "\n"


def _pct(done: int, total: int) -> str:
    return f"{(done / total * 100) if total else 100.0:.2f}"


def format_tpstats(data: Json) -> str:
    rows: list[list[object]] = [["Pool Name", "Active", "Pending", "Completed", "Blocked",
                                 "All time blocked"]]
    for name, p in sorted(data["pools"].items()):
        rows.append([name, p["active"], p["pending"], p["completed"], 0, 0])
    out = table(rows)
    out.append("")
    out.append(f"{'Message type':<20}{'Dropped':>10}{'':>18}"
               f"{'Latency waiting in queue (micros)':>18}{'':>18}{'':>18}")
    out.append(f"{'':<20}{'':>10}{'50%':>18}{'95%':>18}{'99%':>18}{'Max':>18}")
    for name, dropped in sorted(data["dropped"].items()):
        out.append(f"{name:<20}{dropped:>10}{'N/A':>18}{'N/A':>18}{'N/A':>18}{'N/A':>18}")
    return "\n".join(out) + "\n"


def _ms(latency: Json) -> str:
    """``%01.3f ms`` of the mean latency, ``NaN ms`` with no sample (Cassandra's)."""
    mean = latency["mean_us"]
    return f"{java_float(None if mean is None else mean / 1000, 3)} ms"


def _size(human: bool, n: int) -> str:
    return file_size(n) if human else str(n)


def format_tablestats(data: Json, human: bool) -> str:
    tables = data["tables"]
    out = [f"Total number of tables: {len(tables)}", "----------------"]
    for ks in sorted({t["keyspace"] for t in tables}):
        mine = [t for t in tables if t["keyspace"] == ks]
        out.append(f"Keyspace : {ks}")
        for kind, title in (("read", "Read"), ("write", "Write")):
            count = sum(t[kind]["count"] for t in mine)
            total_us = sum(t[kind]["count"] * (t[kind]["mean_us"] or 0) for t in mine)
            mean_ms = total_us / count / 1000 if count else float("nan")
            out.append(f"\t{title} Count: {count}")
            out.append(f"\t{title} Latency: {mean_ms!r} ms".replace("nan", "NaN"))
        out.append("\tPending Flushes: 0")
        for t in mine:
            sizes = t["partition_size_bytes"] or [0] * 7
            count = t["partitions"]
            mean = t["space_used_bytes"] // count if count else 0
            out += [
                f"\t\tTable: {t['table']}",
                f"\t\tSpace used (live): {_size(human, t['space_used_bytes'])}",
                f"\t\tSpace used (total): {_size(human, t['space_used_bytes'])}",
                f"\t\tNumber of partitions (estimate): {count}"
                + (" (or more: counting stopped)" if t["partitions_capped"] else ""),
                f"\t\tLocal read count: {t['read']['count']}",
                f"\t\tLocal read latency: {_ms(t['read'])}",
                f"\t\tLocal write count: {t['write']['count']}",
                f"\t\tLocal write latency: {_ms(t['write'])}",
                f"\t\tCompacted partition minimum bytes: {int(sizes[5])}",
                f"\t\tCompacted partition maximum bytes: {int(sizes[6])}",
                f"\t\tCompacted partition mean bytes: {mean}",
                "",
            ]
        out.append("----------------")
    return "\n".join(out) + "\n"


def format_tablehistograms(data: Json) -> str:
    out = []
    for t in data["tables"]:
        sizes, cells = t["partition_size_bytes"], t["cell_count"]
        if sizes is None or cells is None:
            out.append("No SSTables exists, unable to calculate 'Partition Size' and "
                       "'Cell Count' percentiles")
        out.append(f"{t['keyspace']}/{t['table']} histograms")
        out.append(f"{'Percentile':<10}{'SSTables':>10}{'Write Latency':>18}{'Read Latency':>18}"
                   f"{'Partition Size':>18}{'Cell Count':>18}")
        out.append(f"{'':<10}{'':>10}{'(micros)':>18}{'(micros)':>18}{'(bytes)':>18}{'':>18}")
        write, read = t["write"]["percentiles_us"], t["read"]["percentiles_us"]
        for i, name in enumerate(PERCENTILE_NAMES):
            size = java_float(sizes[i] if sizes else None, 0)
            count = java_float(cells[i] if cells else None, 0)
            out.append(f"{name:<10}{'NaN':>10}{write[i]:>18.2f}{read[i]:>18.2f}{size:>18}"
                       f"{count:>18}")
        out.append("")
    return "\n".join(out) + "\n"


def format_proxyhistograms(data: Json) -> str:
    """Cassandra's six columns; View Write is all zeros (no materialized views: an empty
    histogram, printed as Cassandra prints one)."""
    columns = (("read", "Read Latency"), ("write", "Write Latency"),
               ("range", "Range Latency"), ("cas_read", "CAS Read Latency"),
               ("cas_write", "CAS Write Latency"), ("view_write", "View Write Latency"))
    empty = {"percentiles_us": [0.0] * len(PERCENTILE_NAMES)}
    out = ["proxy histograms",
           f"{'Percentile':<10}" + "".join(f"{title:>19}" for _, title in columns),
           f"{'':<10}" + "".join(f"{'(micros)':>19}" for _ in columns)]
    for i, name in enumerate(PERCENTILE_NAMES):
        out.append(f"{name:<10}" + "".join(
            f"{data.get(k, empty)['percentiles_us'][i]:>19.2f}" for k, _ in columns))
    out.append("")
    return "\n".join(out) + "\n"


def _which(keyspaces: list[str]) -> str:
    return "[all keyspaces]" if not keyspaces else "[" + ", ".join(keyspaces) + "]"


def format_snapshot(data: Json, keyspaces: list[str]) -> str:
    return (f"Requested creating snapshot(s) for {_which(keyspaces)} with snapshot name "
            f"[{data['tag']}] and options {{skipFlush=false}}\n"
            f"Snapshot directory: {data['tag']}\n")


def format_listsnapshots(data: Json) -> str:
    """One row per snapshot: a RocksDB checkpoint holds every table at once, so its sizes are
    the whole checkpoint's; Keyspace name lists the keyspaces asked for (``*``: all)."""
    snapshots = data["snapshots"]
    out = ["Snapshot Details: "]
    if not snapshots:
        return "\n".join(out + ["There are no snapshots"]) + "\n"
    rows: list[list[object]] = [["Snapshot name", "Keyspace name", "Column family name",
                                 "True size", "Size on disk", "Creation time"]]
    for s in snapshots:
        rows.append([s["tag"], ",".join(s["keyspaces"]) or "*", "*",
                     file_size(s["true_size_bytes"]), file_size(s["size_on_disk_bytes"]),
                     s["created_at"]])
    out += table(rows)
    total = sum(s["true_size_bytes"] for s in snapshots)
    out += ["", f"Total TrueDiskSpaceUsed: {file_size(total)}", ""]
    return "\n".join(out) + "\n"


def format_clearsnapshot(tag: str | None, keyspaces: list[str]) -> str:
    which = f"snapshot name [{tag}]" if tag else "[all snapshots]"
    return f"Requested clearing snapshot(s) for {_which(keyspaces)} with {which}\n"
