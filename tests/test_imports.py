"""No module of the package uses another module's private names: what is shared is public, in one place."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"
PACKAGE = SRC / "tidings"


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def private_uses(path: Path) -> list[str]:
    """`from tidings.x import _y`, `import tidings.x._y`, and `x._y` on a tidings module imported as `x`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    modules: set[str] = set()  # local names bound to tidings modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("tidings"):
            for alias in node.names:
                if private(alias.name):
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
                elif (PACKAGE.parent / (node.module or "").replace(".", "/") / alias.name).exists() or (
                    PACKAGE.parent / f"{(node.module or '').replace('.', '/')}/{alias.name}.py"
                ).exists():
                    modules.add(alias.asname or alias.name)
            if any(private(part) for part in (node.module or "").split(".")):
                found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tidings"):
                    if any(private(part) for part in alias.name.split(".")):
                        found.append(f"{node.lineno}: import {alias.name}")
                    if alias.asname:
                        modules.add(alias.asname)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and private(node.attr) and isinstance(node.value, ast.Name)
                and node.value.id in modules):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_module_imports_another_module_s_private_names() -> None:
    offenders = {
        module_name(path): uses for path in sorted(PACKAGE.rglob("*.py")) if (uses := private_uses(path))
    }
    assert offenders == {}


def test_the_check_sees_each_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from tidings.cli.apps import _Fail, apps\n"
        "from tidings.storage import publishes\n"
        "import tidings.cli._hidden\n"
        "publishes._from_row(None)\n"
        "from tidings.cli.common import Fail\n"
    )
    assert private_uses(sample) == [
        "1: from tidings.cli.apps import _Fail",
        "3: import tidings.cli._hidden",
        "4: publishes._from_row",
    ]
