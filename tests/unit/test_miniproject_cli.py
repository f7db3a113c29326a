"""``flowlab miniproject pfof``: prints the seed's tables, writes them, refuses a bad run dir."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from orchestration import cli


def test_miniproject_pfof_prints_and_writes_the_seeds_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        ["miniproject", "pfof", "--orders", "40", "--seed", "3", "--out", str(tmp_path)]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert "| best_execution | 40 |" in out
    assert "balanced degenerates to the lit market" in out
    strategies = pd.read_parquet(tmp_path / "miniproject_strategies.parquet")
    assert list(strategies["strategy"]) == ["best_execution", "maximize_revenue", "balanced"]
    assert list(strategies["orders"]) == [40, 40, 40]
    # 1.0 bps of every filled dollar at mm-1, 0.5 bps at lit (hand: the venues' spreads)
    assert list(strategies["cost_bps"]) == pytest.approx([0.5, 1.0, 0.5])
    from_csv = pd.read_csv(tmp_path / "miniproject_strategies.csv")
    pd.testing.assert_frame_equal(from_csv, strategies, check_dtype=False)
    for name in ("executions", "venues", "conflict", "shortcuts"):
        assert (tmp_path / f"miniproject_{name}.parquet").exists()


def test_miniproject_run_that_is_not_a_run_dir_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["miniproject", "pfof", "--run", str(tmp_path)])

    assert code == 1
    assert capsys.readouterr().err == (
        f"flowlab miniproject: --run: no config.toml in {tmp_path} (not a flowlab run directory)\n"
    )
