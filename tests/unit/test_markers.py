"""``-m integration`` selects exactly the tests under tests/integration/ (tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NO_TESTS = 5  # pytest's exit code when nothing is selected


def collect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_no_unit_test_is_an_integration_test() -> None:
    result = collect("-m", "integration", "tests/unit")

    assert result.returncode == NO_TESTS, result.stdout[-3000:] + result.stderr[-3000:]


def test_every_integration_test_is_marked_without_marking_itself() -> None:
    result = collect("-m", "not integration", "tests/integration")

    assert result.returncode == NO_TESTS, result.stdout[-3000:] + result.stderr[-3000:]
    assert "pytestmark" not in "".join(
        p.read_text() for p in (ROOT / "tests" / "integration").glob("test_*.py")
    )
