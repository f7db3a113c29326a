"""The code base stays as ruff wants it (lint and format), checked by the test suite itself."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.fail("ruff is not installed (it is in the test extras)")
    return subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_check_whole_repo_passes() -> None:
    result = ruff("check", ".")

    assert result.returncode == 0, result.stdout[-4000:]


def test_ruff_format_whole_repo_is_formatted() -> None:
    result = ruff("format", "--check", ".")

    assert result.returncode == 0, result.stdout[-4000:]
