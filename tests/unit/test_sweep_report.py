"""A sweep's analysis and report from a hand-made dataset (no labs): two swept keys."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from orchestration.sweep_report import analyse, format_mix, mix_dependence, write_sweep_report
from orchestration.sweep_task import SWEEP_METRICS

KEYS = ["auction.window_ms", "agents.auction_responders.count"]
POINTS = {"p00": (100, 0), "p01": (100, 2), "p02": (300, 0), "p03": (300, 2)}


def dataset(replications: int = 5) -> pd.DataFrame:
    """Every metric: pfof 1.0 per share; auction 1.0 + effect + a replication wobble, where the
    effect is 0.1 x the point's index (p00 has none)."""
    rows = []
    for index, (point, (window, count)) in enumerate(POINTS.items()):
        for r in range(1, replications + 1):
            wobble = 0.01 * (r - (replications + 1) / 2)
            for regime, per_share in (("pfof", 1.0), ("auction", 1.0 + 0.1 * index + wobble)):
                for metric in SWEEP_METRICS:
                    rows.append(
                        {
                            "point": point,
                            KEYS[0]: window,
                            KEYS[1]: count,
                            "replication": r,
                            "regime": regime,
                            "metric": metric,
                            "value": per_share,
                            "numerator": per_share * 1000,
                            "denominator": 1000.0,
                            "scale": 1.0,
                            "status": "ok",
                        }
                    )
    return pd.DataFrame(rows)


def record(replications: int = 5) -> dict:
    return {
        "scenario": "default",
        "base_seed": 7,
        "regimes": ["pfof", "auction"],
        "replications": replications,
        "design": "random",
        "orders": 100,
        "engine": "dask.distributed",
        "engine_version": "test",
        "cluster": "LocalCluster",
        "workers": [{}],
        "common_random_numbers": "replication r shares its seeds",
        "grid": {"keys": {k: [] for k in KEYS}, "points": [{} for _ in POINTS]},
        "failures": [],
    }


def test_analyse_estimates_each_points_difference_with_holm_over_all_tests() -> None:
    table = analyse(dataset(), None, ["pfof", "auction"], KEYS, seed=1)

    assert len(table) == len(POINTS) * len(SWEEP_METRICS)
    pi = table[table["metric"] == "price_improvement_usd_per_share"].set_index("point")
    assert pi["difference"].to_list() == pytest.approx([0.0, 0.1, 0.2, 0.3])
    # wobble -0.02..+0.02: s = 0.0158, se = s / sqrt(5) = 0.00707, t(4) = 2.776
    assert pi.loc["p03", "ci_high"] - pi.loc["p03", "ci_low"] == pytest.approx(
        2 * 2.776 * 0.00707, rel=0.06
    )
    assert pi.loc["p03", "significant"] is True and pi.loc["p00", "significant"] is False
    assert (table["p_holm"] >= table["p_value"]).all()  # Holm only ever raises p
    assert pi.loc["p03", "verdict"].startswith("significant (Holm-adjusted p")


def test_analyse_below_five_replications_assesses_nothing() -> None:
    table = analyse(dataset(3), None, ["pfof", "auction"], KEYS, seed=1)

    assert table["significant"].isna().all()
    assert table["verdict"].str.contains("3 replications < 5").all()


def test_write_sweep_report_two_keys_draws_heatmaps(tmp_path: Path, capsys) -> None:
    write_sweep_report(tmp_path, dataset(), None, record())

    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert pngs == sorted(f"{m}__auction_minus_pfof.png" for m in SWEEP_METRICS)
    html = (tmp_path / "report.html").read_text()
    assert "Unit of resampling: the replication" in html and "Holm" in html
    assert "p = 0.0<" not in html and "p = 0.000" not in html
    printed = capsys.readouterr().out
    assert "Holm adjustment over the 24 tests" in printed
    assert (tmp_path / "differences.parquet").exists()


def test_a_third_key_draws_one_heatmap_panel_per_value(tmp_path: Path) -> None:
    """Two copies of the dataset, told apart by a third key: one figure per metric with a
    panel per value of it (checked by the figure's width against a two-key one)."""
    data = dataset()
    third = "stream.informed_share"
    both = pd.concat(
        [
            data.assign(**{third: 0.0}),
            data.assign(**{third: 0.3}, point=data["point"].str.replace("p0", "p1")),
        ],
        ignore_index=True,
    )
    three_keys = record()
    three_keys["grid"] = {**three_keys["grid"], "keys": [*KEYS, third]}
    for folder, rows, rec in (("three", both, three_keys), ("two", data, record())):
        (tmp_path / folder).mkdir()
        write_sweep_report(tmp_path / folder, rows, None, rec)
    name = f"{SWEEP_METRICS[0]}__auction_minus_pfof.png"
    three = (tmp_path / "three" / "plots" / name).read_bytes()
    two = (tmp_path / "two" / "plots" / name).read_bytes()

    def width(png: bytes) -> int:
        return int.from_bytes(png[16:20], "big")  # the IHDR chunk's width

    assert width(three) > 1.6 * width(two)


def mix_dataset(change: float) -> pd.DataFrame:
    """Two arm mixes on the same 5 replications: auction - pfof is 0.1 + a replication's
    wobble at 10% pfof and 0.1 + change + the same wobble at 90% (the pairing)."""
    rows = []
    for point, share, extra in (("p00", 0.1, 0.0), ("p01", 0.9, change)):
        for r in range(1, 6):
            wobble = 0.02 * (r - 3)
            for regime, value in (("pfof", 1.0), ("auction", 1.1 + extra + wobble)):
                for metric in SWEEP_METRICS:
                    rows.append(
                        {
                            "point": point,
                            "stream.first_regime_share": share,
                            "replication": r,
                            "regime": regime,
                            "metric": metric,
                            "value": value,
                            "numerator": value * 1000,
                            "denominator": 1000.0,
                            "scale": 1.0,
                            "status": "ok",
                        }
                    )
    return pd.DataFrame(rows)


def test_mix_dependence_is_the_paired_change_between_the_extreme_mixes() -> None:
    keys = ["stream.first_regime_share"]
    moved = mix_dependence(mix_dataset(0.2), keys, ["pfof", "auction"], seed=1)
    assert len(moved) == len(SWEEP_METRICS)
    assert moved["change"].to_numpy() == pytest.approx([0.2] * len(SWEEP_METRICS))
    assert "depends on the mix" in "\n".join(format_mix(moved))
    still = mix_dependence(mix_dataset(0.0), keys, ["pfof", "auction"], seed=1)
    assert still["change"].to_numpy() == pytest.approx([0.0] * len(SWEEP_METRICS))
    assert "no evidence that it depends on the mix" in "\n".join(format_mix(still))
    # any other grid: no interference check
    assert mix_dependence(mix_dataset(0.2), ["auction.window_ms"], ["pfof", "auction"], 1).empty
