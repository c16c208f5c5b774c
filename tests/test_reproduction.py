"""Reproduction summary: counting cells within ±1 and ±2 Dice points of the paper."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evaluation.reproduction import reproduction_summary


def test_counts_numeric_diffs_only(tmp_path: Path) -> None:
    table3 = tmp_path / "table3.csv"
    pd.DataFrame({"Dataset": ["kvasir", "kvasir", "kvasir", "synthetic"], "Diff": ["-0.55", "-1.08", "+2.50", "—"]}
                 ).to_csv(table3, index=False)
    table4 = tmp_path / "table4.csv"
    pd.DataFrame({"Variant": ["CE"], "kvasir S_R ours": ["55.28 ± 2.86"], "kvasir S_R diff": ["-11.58"],
                  "kvasir S_E diff": ["+0.20"]}).to_csv(table4, index=False)
    summary = reproduction_summary([table3, table4]).set_index("Table")
    assert summary.loc["table3"].tolist() == [3, 1, 2, 0]
    assert summary.loc["table4"].tolist() == [2, 1, 1, 0]
    assert summary.loc["all"].tolist() == [5, 2, 3, 0]


def test_stand_in_reference_cells_are_not_counted(tmp_path: Path) -> None:
    table3 = tmp_path / "table3.csv"   # long table: the reference label is in the row's data set cell
    pd.DataFrame({"Dataset": ["kvasir", "synthetic [Kvasir reference] (synthetic (generated))"],
                  "Diff": ["-0.55", "+0.10"]}).to_csv(table3, index=False)
    table4 = tmp_path / "table4.csv"   # wide table: the reference label is in the column header
    pd.DataFrame({"Variant": ["CE", "GSD-Net"], "kvasir S_R diff": ["+0.20", "-3.00"],
                  "synthetic [Kvasir reference] S_R diff": ["+0.50", "-0.30"]}).to_csv(table4, index=False)
    empty = tmp_path / "table6.csv"
    pd.DataFrame({"Variant": [], "synthetic_raters [LIDC reference] Dice_A1 diff": []}).to_csv(empty, index=False)
    summary = reproduction_summary([table3, table4, empty]).set_index("Table")
    assert summary.loc["table3"].tolist() == [1, 1, 1, 1]
    assert summary.loc["table4"].tolist() == [2, 1, 1, 2]
    assert summary.loc["table6"].tolist() == [0, 0, 0, 0]
    assert summary.loc["all"].tolist() == [3, 2, 2, 3]
