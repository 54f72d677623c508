"""Source hygiene: protocol code never reads real time, randomness or the network by itself.

Everything outside ``skewless.runtime`` (and the CLI, which is runtime too) gets
its clock, random source and I/O injected, so that the simulator can replay any run exactly. A
line may still do so deliberately when it carries ``# allow-real-clock``.

Randomness: the module-level functions (``random.random()``, ``random.choice``...) share hidden
global state, and ``random.Random()`` without a seed seeds itself from the OS: both are banned.
An injected ``random.Random`` (an annotation) and ``random.Random(seed)`` (deterministic: the
simulator derives every node's generator from its one seed) are what the rule asks for.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "skewless"
ALLOW = "# allow-real-clock"
TIME_FUNCTIONS = {"time", "monotonic", "time_ns", "monotonic_ns", "perf_counter", "sleep"}
BANNED_MODULES = {"socket", "asyncio"}


def scanned_files() -> list[Path]:
    files = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "runtime" or rel.as_posix() == "cli.py":
            continue
        files.append(path)
    return files


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Lines inside ``if TYPE_CHECKING:`` blocks (imports there never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else (
                test.attr if isinstance(test, ast.Attribute) else "")
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return lines


def _seeded_or_annotation_random(tree: ast.AST) -> set[int]:
    """ids of ``random.Random`` nodes that are annotations or calls with a seed argument."""
    ok: set[int] = set()
    annotations: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (node.args or node.keywords):
            ok.add(id(node.func))
        elif isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
    for annotation in annotations:
        ok.update(id(n) for n in ast.walk(annotation))
    return ok


def violations_in(source: str, name: str) -> Iterator[str]:
    """``name:line: what`` for each forbidden use in ``source``."""
    tree = ast.parse(source)
    lines = source.splitlines()
    skip = _type_checking_lines(tree)
    seeded_or_annotation = _seeded_or_annotation_random(tree)

    def allowed(node: ast.AST) -> bool:
        first = getattr(node, "lineno", 0)
        last = getattr(node, "end_lineno", None) or first
        return first in skip or any(ALLOW in lines[i - 1] for i in range(first, last + 1))

    for node in ast.walk(tree):
        found = ""
        if isinstance(node, ast.Import):
            mods = [a.name.split(".")[0] for a in node.names]
            bad = [m for m in mods if m in BANNED_MODULES]
            if bad:
                found = f"import {', '.join(bad)}"
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top in BANNED_MODULES:
                found = f"from {node.module} import ..."
            elif top == "random":
                found = f"from random import {', '.join(a.name for a in node.names)}"
            elif top == "time":
                names = [a.name for a in node.names if a.name in TIME_FUNCTIONS or a.name == "*"]
                if names:
                    found = f"from time import {', '.join(names)}"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "time" and node.attr in TIME_FUNCTIONS:
                found = f"time.{node.attr}"
            elif node.value.id == "random" and not (
                node.attr == "Random" and id(node) in seeded_or_annotation
            ):
                found = f"random.{node.attr}"
        if found and not allowed(node):
            yield f"{name}:{node.lineno}: {found}"


def test_protocol_code_reads_no_real_clock_randomness_or_network() -> None:
    offenders: list[str] = []
    for path in scanned_files():
        rel = path.relative_to(ROOT).as_posix()
        offenders.extend(violations_in(path.read_text(encoding="utf-8"), rel))
    assert not offenders, (
        "direct clock/random/socket/asyncio use outside skewless.runtime (inject it, or mark a "
        f"deliberate line with '{ALLOW}'):\n" + "\n".join(offenders)
    )


def test_the_scanner_catches_what_it_should() -> None:
    source = "\n".join([
        "import time",
        "import random",
        "import socket, os",
        "import asyncio.subprocess",
        "from random import Random",
        "from time import monotonic as m",
        "from time import strftime",
        "x = time.time()",
        "y = time.monotonic_ns()",
        "time.sleep(1)  # allow-real-clock",
        "z = random.random()",
        "t0 = time.perf_counter()",
        "r = random.Random()",
        "def f(rng: random.Random) -> random.Random: return random.Random(rng.getrandbits(64))",
        "g: random.Random = random.Random(7)",
        "h = random.SystemRandom(1)",
        "from typing import TYPE_CHECKING",
        "if TYPE_CHECKING:",
        "    import asyncio",
        "s = 'time.time()'",
    ])
    found = [v.split(":", 2)[1] for v in violations_in(source, "f.py")]
    assert sorted(map(int, found)) == [3, 4, 5, 6, 8, 9, 11, 12, 13, 16]


def test_ruff_is_clean_on_src() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    exe = str(ruff) if ruff.exists() else shutil.which("ruff")
    if exe is None:
        print("ruff is not installed in the venv or on PATH; skipping the lint check")
        pytest.skip("ruff is not installed")
    out = subprocess.run(
        [exe, "check", "--no-cache", str(ROOT / "src")], capture_output=True, text=True,
        timeout=120, cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_test_file_basenames_are_unique() -> None:
    """pytest imports test modules by basename (no packages here): two test files with one
    name make the whole collection fail."""
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
