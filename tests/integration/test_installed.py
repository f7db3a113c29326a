"""The installed product, not the checkout: a fresh venv, ``pip install`` of the project (not
editable, no test extras), and that venv's ``flowlab compare`` run from a directory outside the
checkout with no ``PYTHONPATH``.

Everything else in the suite imports the checkout (pytest puts it first on ``sys.path``), so a
packaging mistake — a package missing from ``[tool.setuptools.packages.find]``, the built-in
scenario missing from the package data, a broken console script — passes there and fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

import flowlab

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 20
# Left out of the copy that gets installed: environments, caches and build leftovers (a stale
# build/lib would be packed into the wheel and could hide a missing file).
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "runs", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


def clean_env(venv: Path) -> dict[str, str]:
    """This process's environment minus anything that would reach the checkout or keep the
    services from writing bytecode (which the test reads as proof of where they imported from)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV"}
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(cmd: list[str | Path], cwd: Path, env: dict[str, str], timeout: float) -> str:
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
    )
    return result.stdout


@pytest.mark.timeout(900)
def test_installed_flowlab_compare_runs_from_site_packages(tmp_path: Path) -> None:
    # Arrange: a copy of the source (so nothing is built inside the checkout), a fresh venv, and
    # a non-editable install without extras. --no-compile: no bytecode is written at install
    # time, so bytecode found after the run was written by a process importing from there.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    venv = tmp_path / "venv"
    work = tmp_path / "work"
    work.mkdir()
    env = clean_env(venv)
    started = time.monotonic()
    run([sys.executable, "-m", "venv", "--clear", venv], work, env, 120)
    python = venv / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", "--no-compile", source], work, env, 600)
    shutil.rmtree(source)
    installed = time.monotonic()

    site = Path(
        run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], work, env, 60
        ).strip()
    )
    where = run(
        [python, "-c", "import orchestration, services, config, protocol as p; print(p.__file__)"],
        work,
        env,
        60,
    )
    assert Path(where.strip()).is_relative_to(site), where
    public = run([python, "-c", "import flowlab; print(flowlab.__file__)"], work, env, 60)
    assert Path(public.strip()).is_relative_to(site), public  # `import flowlab`, installed
    version = run([venv / "bin" / "flowlab", "--version"], work, env, 60)
    assert version.strip() == f"flowlab {flowlab.__version__}"
    assert not (site / "pytest").exists(), "the test extras were installed"
    broker_bytecode = site / "services" / "broker" / "__pycache__"
    assert not broker_bytecode.exists()

    # Act: the console script of the venv, cwd outside the checkout, the built-in scenario
    # (from the package data), a short stream and a short close.
    out = work / "report"
    stdout = run(
        [
            venv / "bin" / "flowlab",
            "compare",
            "--orders",
            str(ORDERS),
            "--rate",
            "100",
            "--settle",
            "1",
            "--close-after",
            "2",
            "--out",
            out,
            "--no-live",
        ],
        work,
        env,
        240,
    )
    finished = time.monotonic()

    # Assert: exit 0 (checked by run), the report files, every order terminal.
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "default"
    regimes = summary["regimes"]
    measured = summary["burn_in"]["orders_measured"]  # after the scenario's burn-in
    assert measured + summary["burn_in"]["orders_excluded"] == ORDERS
    assert sum(m["orders"] for m in regimes.values()) == measured
    assert sum(m["terminal_orders"] for m in regimes.values()) == measured
    report = (out / "report.md").read_text()
    assert all(regime in report for regime in regimes)
    assert all(regime in stdout for regime in regimes)
    # The service processes (sys.executable -m services.main ROLE ...) imported their
    # modules from the venv's site-packages: only they load the broker's shell and services.main.
    assert list(broker_bytecode.glob("service.*.pyc")), "the broker did not run from site-packages"
    assert list((site / "services" / "__pycache__").glob("main.*.pyc"))
    assert sysconfig.get_path("purelib") != str(site)  # the test's own interpreter is another
    print(f"install {installed - started:.1f} s, compare {finished - installed:.1f} s")
