"""The code base type-checks (mypy, configured in pyproject.toml), checked by the test suite itself:
strict on ``protocol``, ``config`` and the pure service cores, the default check elsewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_mypy_whole_repo_passes() -> None:
    result = mypy()  # the files and flags come from [tool.mypy]

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    # A misspelled module in the strict override would only be a note, and silently not strict.
    assert "unused section" not in output, output


def test_strict_modules_are_checked_strictly_and_the_rest_is_not() -> None:
    # The split is only worth something if it bites: an untyped function fails in a strict
    # module (protocol, a pure core) and passes in a shell module.
    untyped = "def probe(x):\n    return x\n"
    planted = [
        ROOT / "protocol" / "_planted_types_probe.py",
        ROOT / "services" / "sor" / "_planted_types_probe.py",
    ]
    strict_core = ROOT / "services" / "sor" / "core.py"
    for path in planted:
        path.write_text(untyped)
    try:
        result = mypy(
            *(str(p.relative_to(ROOT)) for p in planted), str(strict_core.relative_to(ROOT))
        )
    finally:
        for path in planted:
            path.unlink()

    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert [e.split(":")[0] for e in errors] == ["protocol/_planted_types_probe.py"], result.stdout
    assert "[no-untyped-def]" in errors[0]
