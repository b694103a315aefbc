"""Imports point down only (docs: /ARCHITECTURE "Layers"): checked by parsing the source, not by importing it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "tidings"


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])


def imported_modules(source: str, package: str) -> set[str]:
    """Every module a module of `package` imports, relative imports resolved, including those inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from tidings import realtime`
    return found


def files_under(*patterns: str) -> list[Path]:
    return sorted(p for pattern in patterns for p in SRC.glob(pattern))


def offending(files: list[Path], forbidden: str) -> dict[str, list[str]]:
    bad = {}
    for path in files:
        modules = imported_modules(path.read_text(), package_of(path))
        hits = sorted(m for m in modules if m == forbidden or m.startswith(forbidden + "."))
        if hits:
            bad[str(path.relative_to(SRC))] = hits
    return bad


@pytest.mark.parametrize("patterns", [("delivery/**/*.py",), ("beams/**/*.py", "beams_*/**/*.py")])
def test_beams_side_never_imports_the_channels_runtime(patterns: tuple[str, ...]) -> None:
    files = files_under(*patterns)
    assert files, patterns
    assert offending(files, "tidings.realtime") == {}


def test_the_event_stream_belongs_to_neither_product() -> None:
    path = SRC / "events.py"
    assert {m for m in imported_modules(path.read_text(), "tidings") if m.startswith("tidings.")} == set()


def test_the_check_sees_relative_and_nested_imports() -> None:
    source = "def f():\n from ..realtime import hub\n from tidings import realtime\n import tidings.realtime.x\n"
    assert imported_modules(source, "tidings.delivery") >= {
        "tidings.realtime", "tidings.realtime.hub", "tidings.realtime.x"
    }
