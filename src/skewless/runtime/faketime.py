"""libfaketime for a child process's real-time clock (clock faults in tests and `lab real`).

The library is preloaded into the process (``FaketimeFile.env``); it reads the clock's offset
from a file, again at most every second (``FAKETIME_CACHE_DURATION``), so the offset can be
changed while the process runs. Only the real-time clock is faked: monotonic time stays true,
as the node's clock model requires. ``run.py`` installs the Debian package when it is missing
(it has its own copy of the path: it runs before this package is installed).
"""

from __future__ import annotations

import glob
from pathlib import Path

LIBRARY_GLOB = "/usr/lib/*/faketime/libfaketimeMT.so.1"


def library() -> str | None:
    """The installed libfaketime (multi-threaded build), or None."""
    found = sorted(glob.glob(LIBRARY_GLOB))
    return found[0] if found else None


class FaketimeFile:
    """The offset file of one process's clock."""

    def __init__(self, path: Path, library_path: str, offset_s: float = 0.0) -> None:
        self.library = library_path
        self.path = path
        self.set_offset_s(offset_s)

    def env(self) -> dict[str, str]:
        """The environment that makes a child process read its clock through this file."""
        return {"LD_PRELOAD": self.library, "FAKETIME_TIMESTAMP_FILE": str(self.path),
                "FAKETIME_CACHE_DURATION": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}

    def set_offset_s(self, offset_s: float) -> None:
        """Written atomically (a reader never sees half a line)."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{offset_s:+.6f}\n")  # FAKETIME's relative format, in seconds
        tmp.replace(self.path)
