"""``flowlab miniproject pfof --live``: the seed-pfof scenario's arms run live, set beside the
seed's offline model (real processes, real files)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).parents[2]


def test_miniproject_live_runs_the_seeds_strategies_beside_the_model(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "seed-pfof.toml").read_text()
    assert "orders = 400" in text
    scenario = tmp_path / "seed-pfof-short.toml"
    scenario.write_text(text.replace("orders = 400", "orders = 120"))
    out = tmp_path / "out"

    live = ["--live", "--scenario", str(scenario), "--runs", str(tmp_path / "runs")]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestration.cli",
            "miniproject",
            "pfof",
            *live,
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Seed beside live" in result.stdout
    side = pd.read_parquet(out / "miniproject_side_by_side.parquet")
    assert {"live best-ex", "live pfof", "live balanced"} <= set(side["source"])
    live = pd.read_parquet(out / "miniproject_live_strategies.parquet").set_index("regime")
    assert live.loc["best-ex", "venues"] == "lit 100%"  # the SOR's one venue
    # top-payer PFOF: mm-1 fills most; only its declines reach the lit venue through the SOR
    assert live.loc["pfof", "venues"].startswith("mm-1")
    # balanced chooses among all four destinations, the lit venue (via the SOR) included
    used = {part.split()[0] for part in live.loc["balanced", "venues"].split(", ")}
    assert used and used <= {"lit", "mm-1", "mm-2", "mm-3"}
    assert (live["orders"] > 0).all() and (live["fill_rate"] > 0.9).all()
