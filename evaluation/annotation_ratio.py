"""Table 9 (annotation ratio): a method trained on shares of the CLEAN labels against all NOISY labels.

The paper (Sec. 5, Table 9) trains GSD-Net on 100, 50, 25 and 12.5 % of the clean training labels and on all of
the S_DE noisy labels (rows: data sets). Here every cell is an ordinary run: the clean share is the engine's
seeded ``train_fraction`` subset on the clean label source, the noisy column the variant on a noisy setting.
The table is long (one row per data set x variant x labels) so it reads in Markdown; the paper's value is shown
for the ``paper_variant`` on data sets the paper has, or, for a stand-in, on its ``paper_data_set`` (config), for
reference (the data set cell says so: ``evaluation.paper.dataset_label``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from common.errors import InputError
from evaluation.paper import compared_data_set, dataset_label, paper_value, reference_caption
from evaluation.runs import aggregate_runs, load_run, seed_cell
from evaluation.table3 import paper_column
from evaluation.tables import comparison_columns, render_table, write_table

TITLE = "Table 9: clean-label shares against all noisy labels (Dice %)"


def build_annotation_ratio_table(frame: pd.DataFrame, cells: Sequence[Mapping[str, str]], paper_variant: str,
                                 paper_data_sets: Mapping[str, str | None] | None = None) -> pd.DataFrame:
    """Formatted Table 9 from :func:`evaluation.runs.aggregate_runs` output and the config's cells.

    ``cells`` (``workflow.planner.targets.annotation_ratio_cells``): ``dataset``, ``variant``, ``column``,
    ``setting``, ``run_variant``. Ours: mean over seeds of the runs' last-K mean ± the runs' mean last-K std;
    seeds: mean ± sample std over seeds (``n=1`` for one seed). ``paper_data_sets``: data set -> its config
    ``paper_data_set`` (or None).
    """
    references = paper_data_sets or {}
    records = []
    for cell in cells:
        runs = frame[(frame["dataset"] == cell["dataset"]) & (frame["setting"] == cell["setting"])
                     & (frame["variant"] == cell["run_variant"])]
        if runs.empty:
            raise InputError(f"Table 9: no run of {cell['run_variant']} on {cell['dataset']} {cell['setting']}")
        dataset_column = compared_data_set(cell["dataset"], references, paper_column)
        paper = (paper_value("9", dataset_column, cell["column"])
                 if dataset_column and cell["variant"] == paper_variant else None)
        paper_mean, paper_std = paper if paper else (None, None)
        record = {"Data set": dataset_label(cell["dataset"], references), "Variant": cell["variant"],
                  "Labels": cell["column"], "Label source": cell["setting"], "Run": cell["run_variant"]}
        record.update(comparison_columns(float(runs["dice_mean"].mean()), float(runs["dice_std"].mean()),
                                         paper_mean, paper_std))
        record["seeds"] = seed_cell(runs)
        records.append(record)
    return pd.DataFrame(records)


def write_annotation_ratio_table(run_dirs: Sequence[str | os.PathLike[str]], cells: Sequence[Mapping[str, str]],
                                 paper_variant: str, paths: Mapping[str, str | os.PathLike[str]],
                                 paper_data_sets: Mapping[str, str | None] | None = None) -> pd.DataFrame:
    """Render Table 9 from its runs to md, csv and tex; the caption says what the runs were."""
    references = paper_data_sets or {}
    frame = aggregate_runs(run_dirs)
    table = build_annotation_ratio_table(frame, cells, paper_variant, references)
    summaries = [load_run(Path(run_dir)) for run_dir in run_dirs]
    epochs = sorted({str(summary.get("config", {}).get("epochs", "?")) for summary in summaries})
    devices = sorted({str(summary.get("device", "?")) for summary in summaries})
    n_train = sorted({str(summary.get("n_train", "?")) for summary in summaries}, key=lambda text: (len(text), text))
    caption = (
        f"Clean p%: trained on a seeded p % subset of the clean training labels; noisy: on all labels of the noisy "
        f"setting. Ours: mean ± population std of the test Dice over the last evaluated epochs (mean over seeds); "
        f"seeds: mean ± sample std over seeds; paper: Table 9 ({paper_variant}); diff: ours - paper. "
        f"{len(summaries)} runs; training images used {', '.join(n_train)}; epochs {', '.join(epochs)}; "
        f"device {', '.join(devices)}.{reference_caption([cell['dataset'] for cell in cells], references)}"
    )
    write_table(render_table(table, TITLE, caption), paths)
    return table

