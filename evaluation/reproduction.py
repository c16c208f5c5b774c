"""Reproduction summary: how many of our table cells lie within ±1 and ±2 Dice points of the paper's.

A stand-in's cells (its paper values are another data set's, for reference: a header or a row cell carries
``[Kvasir reference]``, ``evaluation.paper.dataset_label``) are not a reproduction check: they are counted apart.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from common.errors import InputError
from evaluation.paper import is_reference_label


def diff_values(table_csv: str | os.PathLike[str]) -> tuple[list[float], list[float]]:
    """Every numeric ours - paper difference of a rendered table (its ``Diff`` / ``... diff`` columns), split into
    (reproduction checks, stand-in references): a cell is a reference where its column header or a cell of its
    row carries a reference label."""
    path = Path(table_csv)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    columns = [column for column in frame.columns if column.lower() == "diff" or column.lower().endswith(" diff")]
    reference_rows = [any(is_reference_label(cell) for cell in row) for row in frame.itertuples(index=False)]
    checks: list[float] = []
    references: list[float] = []
    for column in columns:
        for cell, reference_row in zip(frame[column], reference_rows, strict=True):
            try:
                value = float(cell)
            except ValueError:
                continue
            (references if reference_row or is_reference_label(column) else checks).append(value)
    return checks, references


def reproduction_summary(table_csvs: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """Per table and overall: cells with a paper value, how many are within ±1 and ±2 Dice points, and the
    stand-ins' reference cells, which are not counted."""
    rows = []
    for path in table_csvs:
        diffs, references = diff_values(path)
        rows.append({"Table": Path(path).stem, "Cells compared": len(diffs),
                     "Within ±1": sum(abs(diff) <= 1 for diff in diffs),
                     "Within ±2": sum(abs(diff) <= 2 for diff in diffs),
                     "Stand-in reference cells (not counted)": len(references)})
    frame = pd.DataFrame(rows, columns=["Table", "Cells compared", "Within ±1", "Within ±2",
                                        "Stand-in reference cells (not counted)"])
    total = {"Table": "all", **{column: int(frame[column].sum()) for column in frame.columns[1:]}}
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True).astype({"Cells compared": int})
