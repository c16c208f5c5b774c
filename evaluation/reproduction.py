"""Reproduction summary: how many of our table cells lie within ±1 and ±2 Dice points of the paper's."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from common.errors import InputError


def diff_values(table_csv: str | os.PathLike[str]) -> list[float]:
    """Every numeric ours - paper difference of a rendered table (its ``Diff`` / ``... diff`` columns)."""
    path = Path(table_csv)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    columns = [column for column in frame.columns if column.lower() == "diff" or column.lower().endswith(" diff")]
    values = []
    for column in columns:
        for cell in frame[column]:
            try:
                values.append(float(cell))
            except ValueError:
                continue
    return values


def reproduction_summary(table_csvs: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """Per table and overall: cells with a paper value, and how many are within ±1 and ±2 Dice points."""
    rows = []
    for path in table_csvs:
        diffs = diff_values(path)
        rows.append({"Table": Path(path).stem, "Cells compared": len(diffs),
                     "Within ±1": sum(abs(diff) <= 1 for diff in diffs),
                     "Within ±2": sum(abs(diff) <= 2 for diff in diffs)})
    frame = pd.DataFrame(rows, columns=["Table", "Cells compared", "Within ±1", "Within ±2"])
    total = {"Table": "all", **{column: int(frame[column].sum()) for column in frame.columns[1:]}}
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True).astype({"Cells compared": int})
