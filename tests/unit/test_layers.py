"""The layer rules, checked on every import in the tree (function-local ones included).

- ``protocol`` imports nothing of the project;
- ``config`` imports only ``protocol``;
- ``services`` imports only ``protocol``, ``config`` and itself, and never pandas, pyarrow or
  matplotlib, neither directly nor through anything it imports (checked in a fresh interpreter).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {"protocol", "config", "services", "orchestration", "flowlab", "tests"}
HEAVY = {"pandas", "pyarrow", "matplotlib"}
ALLOWED = {
    "protocol": {"protocol"},
    "config": {"protocol", "config"},
    "services": {"protocol", "config", "services"},
}


def imported_roots(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (relative imports resolved)."""
    package = path.relative_to(ROOT).parts[0]
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add(package if node.level else (node.module or "").split(".")[0])
    return roots


def violations(layer: str) -> list[str]:
    found = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for root in sorted(imported_roots(path)):
            if (root in PROJECT and root not in ALLOWED[layer]) or (
                layer == "services" and root in HEAVY
            ):
                found.append(f"{path.relative_to(ROOT)} imports {root}")
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    assert violations(layer) == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    # The rule is only worth something if it can fail: a planted file must be caught.
    planted = ROOT / "services" / "_planted_layer_probe.py"
    planted.write_text("def f():\n    from orchestration import metrics\n    import pandas\n")
    try:
        assert violations("services") == [
            "services/_planted_layer_probe.py imports orchestration",
            "services/_planted_layer_probe.py imports pandas",
        ]
    finally:
        planted.unlink()


def service_modules() -> list[str]:
    return sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "services").rglob("*.py")
        if path.name != "__init__.py"
    )


def test_no_service_module_loads_orchestration_or_heavy_libraries() -> None:
    modules = service_modules()
    assert "services.broker.service" in modules
    banned = sorted(HEAVY | {"orchestration"})
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {banned!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
