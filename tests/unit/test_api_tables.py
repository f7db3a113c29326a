"""``import flowlab`` is the public entry, and every table of docs/TABLES.md has a name in it."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import flowlab
from orchestration import api
from orchestration.report import COMPUTED_TABLES
from orchestration.tape import TABLES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "TABLES.md"


def documented_tables() -> set[str]:
    """Table names of docs/TABLES.md: those its ``###`` headings name (``name`` or
    ``name.parquet``) and those its "Other tables built from the tape" paragraph lists."""
    names: set[str] = set()
    section = ""
    for line in DOCS.read_text().splitlines():
        if line.startswith("###"):
            section = line
            names.update(re.findall(r"`([a-z0-9_]+)(?:\.parquet)?`", line))
        elif section.startswith("### Other tables"):
            names.update(re.findall(r"`([a-z0-9_]+)`(?= \(| and `)", line))
    return names


def test_documented_tables_parsed_from_both_kinds_of_entry() -> None:
    names = documented_tables()

    # a heading of each kind, and the paragraph: the parser must see all three
    assert {"orders", "rule605", "rule606", "comparisons", "auctions", "quotes"} <= names


def test_every_documented_table_has_a_name_in_the_api() -> None:
    assert documented_tables() - set(flowlab.TABLE_NAMES) == set()


def test_api_table_names_are_the_tape_tables_and_the_computed_ones() -> None:
    assert set(flowlab.TABLE_NAMES) == set(TABLES) | set(COMPUTED_TABLES)


def test_flowlab_package_is_the_api_and_orchestration_api_its_alias() -> None:
    assert flowlab.Lab is api.Lab
    assert flowlab.compare is api.compare
    assert flowlab.StreamError is api.StreamError
    assert flowlab.__version__ != "unknown"


def test_lab_table_unknown_name_lists_the_tables_without_a_lab() -> None:
    lab = flowlab.Lab()

    with pytest.raises(KeyError, match="no table 'rule_605'; tables: orders, fills"):
        lab.table("rule_605")


def test_comparison_table_reads_the_report_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"regime": ["pfof", "auction"], "orders": [3, 4]})
    frame.to_parquet(tmp_path / "rule605.parquet")
    result = flowlab.Comparison(tmp_path, (tmp_path,), {"run": {"broker": 0}}, frame, frame)

    assert result.table("rule605").equals(frame)
    assert result.clean
    with pytest.raises(KeyError, match="tables: rule605"):
        result.table("rule606")
