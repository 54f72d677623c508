#!/usr/bin/env python3
"""Set up the project's virtualenv and run a local cluster or the tests (standard library only).

    python3 run.py cluster [extra `skewless cluster start` options]
    python3 run.py test [pytest arguments]

Both create ``.venv`` if it is missing and install the project into it (``pip install -e
.[test]``), skipping the install when ``.venv/.skewless-installed`` holds the hash of the current
``pyproject.toml``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
MARKER = VENV / ".skewless-installed"
PYTEST_NO_TESTS = 5  # pytest's exit code when it collected nothing
# Parallel workers for the whole suite (pytest-xdist); each moves its ports by a stride
# (skewless.runtime.cluster.suite_port_offset), which allows at most two.
TEST_WORKERS_MAX = 2


def base_python() -> str:
    """A Python >= 3.11 to create the venv with."""
    if sys.version_info >= (3, 11):  # noqa: UP036 - run.py may be started by an older python3
        return sys.executable
    for name in ("python3.13", "python3.12", "python3.11"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit(f"run.py: Skewless needs Python >= 3.11 (this is {sys.version.split()[0]})")


def pyproject_hash() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_installed() -> None:
    if not VENV_PYTHON.exists():
        print(f"run.py: creating {VENV}", flush=True)
        subprocess.run([base_python(), "-m", "venv", str(VENV)], check=True)
    want = pyproject_hash()
    installed = MARKER.read_text().strip() if MARKER.exists() else ""
    if installed == want and (VENV / "bin" / "skewless").exists():
        return
    print("run.py: installing the project into .venv (pip install -e .[test])", flush=True)
    subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-e",
         ".[test]"],
        check=True, cwd=ROOT,
    )
    MARKER.write_text(want + "\n")


FAKETIME_GLOB = "/usr/lib/*/faketime/libfaketimeMT.so.1"


def ensure_libfaketime() -> None:
    """The clock-fault tests preload libfaketime into node and client processes. Install
    Debian's package when it is missing and we may (root with apt-get); otherwise those tests
    skip, saying why."""
    import glob

    if glob.glob(FAKETIME_GLOB):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print("run.py: libfaketime is not installed (apt-get install libfaketime); "
              "the clock-fault tests will be skipped", flush=True)
        return
    print("run.py: installing libfaketime (apt-get install libfaketime)", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "libfaketime"]):
        if subprocess.run(cmd, env=env).returncode != 0:
            print(f"run.py: {' '.join(cmd)} failed; the clock-fault tests will be skipped",
                  flush=True)
            return


def parallel(args: list[str]) -> list[str]:
    """Two pytest-xdist workers, whole files each (module-scoped clusters stay in one worker),
    unless the caller chose (``-n``/``-p no:xdist``) or there is a single core."""
    workers = min(TEST_WORKERS_MAX, os.cpu_count() or 1)
    chose = any(a == "-n" or a.startswith(("-n", "--numprocesses")) or "xdist" in a
                for a in args)
    if workers < 2 or chose:
        return []
    # Files in collection order, which tests/integration/conftest.py sorts longest first.
    return ["-n", str(workers), "--dist", "loadfile", "--no-loadscope-reorder"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("cluster", "test"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    os.chdir(ROOT)
    try:
        ensure_installed()
    except subprocess.CalledProcessError as e:
        print(f"run.py: setting up .venv failed ({e})", file=sys.stderr)
        return 1
    command, rest = argv[0], argv[1:]
    if command == "cluster":
        exe = str(VENV / "bin" / "skewless")
        args = [exe, "cluster", "start", "--nodes", "3", "--data-dir", "./data", "--foreground"]
        sys.stdout.flush()
        os.execv(exe, args + rest)
    ensure_libfaketime()
    code = subprocess.run([str(VENV_PYTHON), "-m", "pytest", "-q", *parallel(rest), *rest],
                          cwd=ROOT).returncode
    if code == PYTEST_NO_TESTS:
        print("run.py: pytest collected no tests (exit code 5); treating that as a failure",
              file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
