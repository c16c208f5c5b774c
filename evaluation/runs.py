"""Training-run aggregation and the method-comparison tables (paper Tables 4, 7, 8).

A run folder is ``results/runs/{dataset}/{setting}/{variant}/seed{seed}/`` (docs/architecture.md). Its
``summary.json`` must hold ``dice_mean`` and ``dice_std``: the protocol's mean and population std of the test
Dice over the last K evaluated epochs, as fractions in [0, 1]. ``dataset``, ``setting``, ``variant`` and
``seed`` are read from the summary when present, else from the folder names.

In the aggregated frame and the tables Dice is in points (0-100). Over seeds of one (dataset, setting,
variant): ``seed_mean`` is the mean of the runs' ``dice_mean`` and ``seed_std`` their sample std (ddof 1; NaN
for one seed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import InputError
from common.run_key import RunKey
from evaluation.paper import compared_data_set, dataset_label, load_paper_numbers, paper_value, reference_caption
from evaluation.table3 import json_number, read_json
from evaluation.tables import MISSING, comparison_columns, paper_setting, setting_sort_key

#: Columns of :func:`aggregate_runs`.
#: Marks a method-table cell with a collapsed run (final test predictions empty, or full, for every image).
COLLAPSE_MARK = "‡"
RUN_COLUMNS = ["dataset", "setting", "variant", "seed", "dice_mean", "dice_std", "seed_mean", "seed_std", "n_seeds"]

_SEED_FOLDER = re.compile(r"^seed(\d+)$")


def load_run(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """A run's ``summary.json`` with ``dataset``, ``setting``, ``variant``, ``seed`` filled from the path if absent.

    Raises InputError naming the file when it is missing, ill-formed, or its Dice is not a fraction.
    """
    folder = Path(run_dir)
    path = folder / "summary.json"
    summary = read_json(path)
    for key in ("dice_mean", "dice_std"):
        if not 0.0 <= json_number(summary, key, path) <= 1.0:
            raise InputError(f"{path}: '{key}' must be a fraction in [0, 1], found {summary[key]}")
    stored = summary.get("run_key")
    if isinstance(stored, dict):
        for key, value in stored.items():
            summary.setdefault(key, value)
    from_path = {"variant": folder.parent.name, "setting": folder.parent.parent.name,
                 "dataset": folder.parent.parent.parent.name}
    for key, value in from_path.items():
        summary.setdefault(key, value)
    if "seed" not in summary:
        if not _SEED_FOLDER.match(folder.name):
            raise InputError(f"{path}: no 'seed' field and folder name '{folder.name}' is not seed<N>")
        summary["seed"] = RunKey.from_folder(folder).seed
    return summary


def aggregate_runs(run_dirs: Sequence[str | os.PathLike[str]]) -> pd.DataFrame:
    """One row per run (Dice in points) with per-(dataset, setting, variant) seed statistics; see module doc."""
    records: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, str, int], Path] = {}
    for run_dir in run_dirs:
        summary = load_run(run_dir)
        key = (str(summary["dataset"]), str(summary["setting"]), str(summary["variant"]), int(summary["seed"]))
        if key in seen:
            raise InputError(f"{Path(run_dir) / 'summary.json'}: duplicate run {key} (also {seen[key]})")
        seen[key] = Path(run_dir)
        records.append(dict(zip(RUN_COLUMNS[:4], key, strict=True),
                            dice_mean=100.0 * float(summary["dice_mean"]), dice_std=100.0 * float(summary["dice_std"]),
                            collapse=summary.get("collapse")))
    frame = pd.DataFrame(records, columns=[*RUN_COLUMNS[:6], "collapse"])
    groups = frame.groupby(["dataset", "setting", "variant"], sort=False)["dice_mean"]
    frame["seed_mean"] = groups.transform("mean")
    frame["seed_std"] = groups.transform(lambda values: values.std(ddof=1) if len(values) > 1 else np.nan)
    frame["n_seeds"] = groups.transform("size").astype(int)
    return frame.sort_values(["dataset", "setting", "variant", "seed"], kind="stable").reset_index(drop=True)


def _paper_column_order(table_id: str | int) -> list[str]:
    """The paper table's columns in printed order."""
    numbers = load_paper_numbers()
    return list(dict.fromkeys(numbers.loc[numbers["table"] == str(table_id), "column"]))


def build_method_table(frame: pd.DataFrame, table_id: str | int, row_labels: Mapping[str, str | None],
                       column_of: Callable[[str, str], str | None],
                       dataset_labels: Mapping[str, str] | None = None,
                       not_run: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A method-comparison table of formatted strings from :func:`aggregate_runs` output.

    Rows are the variants of ``row_labels`` in its order (variants not in it are left out); ``row_labels`` maps
    each variant to its row in paper table ``table_id`` (None: the paper has no such row). One column group per
    (dataset, setting) present, ordered by the paper column ``column_of(dataset, setting)`` (None: no paper
    column; such groups come last, alphabetically): ``"{dataset} {setting} ours"`` (mean over seeds ± the runs'
    mean last-K std), ``... paper``, ``... diff``, and ``... seeds`` (mean ± sample std over seeds,
    :func:`seed_cell`); ``dataset_labels`` names a data set in the headers (default: its name). A variant of
    ``not_run`` (variant -> reason, e.g. "not run: no SAM checkpoint") keeps its row: its ours cells say why.
    """
    selected = frame[frame["variant"].isin(list(row_labels))]
    paper_order = _paper_column_order(table_id)

    def group_key(pair: tuple[str, str]) -> tuple[int, str, tuple[int, str]]:
        column = column_of(*pair)
        position = paper_order.index(column) if column in paper_order else len(paper_order)
        return position, pair[0], setting_sort_key(pair[1])

    pairs = sorted(dict.fromkeys(zip(selected["dataset"], selected["setting"], strict=True)), key=group_key)
    records = []
    for variant, paper_row in row_labels.items():
        record = {"Variant": variant, "Paper row": paper_row or MISSING}
        for dataset, setting in pairs:
            runs = selected[(selected["variant"] == variant) & (selected["dataset"] == dataset)
                            & (selected["setting"] == setting)]
            column = column_of(dataset, setting)
            paper = paper_value(table_id, paper_row, column) if paper_row and column else None
            paper_mean, paper_std = paper if paper else (None, None)
            ours_mean = float(runs["dice_mean"].mean()) if len(runs) else None
            ours_std = float(runs["dice_std"].mean()) if len(runs) else None
            label = f"{(dataset_labels or {}).get(dataset, dataset)} {setting}"
            for name, cell in comparison_columns(ours_mean, ours_std, paper_mean, paper_std).items():
                record[f"{label} {name}"] = cell
            record[f"{label} seeds"] = seed_cell(runs)
            if "collapse" in runs and runs["collapse"].notna().any():
                record[f"{label} ours"] += f" {COLLAPSE_MARK}"
            if variant in (not_run or {}):
                record[f"{label} ours"] = not_run[variant]
        records.append(record)
    return pd.DataFrame(records)


def seed_cell(runs: pd.DataFrame) -> str:
    """Mean ± sample std over seeds of the runs' Dice, ``79.00 ± 1.41 (n=2)``; ``n=1`` for one seed; ``—``
    without runs."""
    if runs.empty:
        return MISSING
    if len(runs) == 1:
        return "n=1"
    return f"{runs['dice_mean'].mean():.2f} ± {runs['dice_mean'].std(ddof=1):.2f} (n={len(runs)})"


def not_run_caption(not_run: Mapping[str, str], row_labels: Mapping[str, str | None]) -> str:
    """`` Not run here: MSA (not run: no SAM checkpoint).`` for the table's variants that could not run, or ``""``."""
    shown = {variant: reason for variant, reason in not_run.items() if variant in row_labels}
    if not shown:
        return ""
    return " Not run here: " + "; ".join(f"{variant} ({reason})" for variant, reason in shown.items()) + "."


#: Titles of the method-comparison tables, by paper table number.
METHOD_TABLE_TITLES = {
    "4": "Table 4: Dice (%) of each method under simulated label noise",
    "5": "Table 5: Dice (%) of each method on BraTS2020 (3D) under simulated label noise",
    "7": "Table 7: ablation of GSD-Net's modules on Kvasir",
    "8": "Table 8: GSD-Net and CE with other backbones",
}


def paper_method_column(table_id: str, dataset: str, setting: str, paper_data_set: str | None = None) -> str | None:
    """The paper's column for (dataset, setting): ``"Kvasir S_R"`` in Tables 4 and 8, ``"S_R"`` in Table 7, and in
    Table 5 (BraTS2020 only) ``"S_R"`` for the 3D setting ``S_R_3D`` (likewise S_E_3D, S_DE_3D). The paper data set
    is ``paper_data_set`` (the config's) if given, else the one the name maps to."""
    from evaluation.table3 import paper_column

    dataset_column = paper_data_set or paper_column(dataset)
    if dataset_column is None:
        return None
    if str(table_id) == "5":
        return paper_setting(setting) if dataset_column == "BraTS2020" else None
    return setting if str(table_id) == "7" else f"{dataset_column} {setting}"


def conventions_caption(summaries: Sequence[Mapping[str, Any]]) -> str:
    """Caption sentences naming the conventions behind a method table's numbers, from its runs' summaries: the
    per-epoch value aggregated, T-Loss's reduction and the KT region rule in use (with a leading space)."""
    batches = sorted({str(summary.get("config", {}).get("eval_batch_size", "?")) for summary in summaries})
    text = (f" Per-epoch value: the batch-mean Dice (per-image Dice, 1e-6 smoothing, averaged per test batch of "
            f"{', '.join(batches)} and then over batches: the GSD-Net authors' protocol), averaged over the last K "
            f"evaluated epochs; the boundary tables score the final epoch's predictions instead.")
    if any(summary.get("method") == "tloss" for summary in summaries):
        reductions = sorted({str(summary.get("method_options", {}).get("reduction", "pixel_mean"))
                             for summary in summaries if summary.get("method") == "tloss"})
        words = {"pixel_mean": "pixel_mean (the per-image NLL divided by the pixel count, not the authors' sum)",
                 "image_mean": "image_mean (the authors' per-image sum over pixels)"}
        text += f" T-Loss reduction: {'; '.join(words.get(rule, rule) for rule in reductions)}."
    rules: dict[str, list[str]] = {}
    for summary in summaries:
        if summary.get("method") == "gsdnet" and summary.get("method_options", {}).get("knowledge_transfer", True):
            options = summary.get("method_options", {})
            rule = f"{options.get('region_rule', 'threshold')} at r_cp {float(options.get('r_cp', 0.5)):g}"
            cell = f"{summary.get('dataset')} {summary.get('setting')}"
            if cell not in rules.setdefault(rule, []):
                rules[rule].append(cell)
    if rules:
        parts = [rule if len(rules) == 1 else f"{rule} ({', '.join(cells)})" for rule, cells in rules.items()]
        text += f" GSD-Net's KT region rule: {'; '.join(parts)}."
    return text


def write_method_table(run_dirs: Sequence[str | os.PathLike[str]], table: str, variants: Sequence[str],
                       paper_rows: Mapping[str, str], paths: Mapping[str, str | os.PathLike[str]],
                       paper_data_sets: Mapping[str, str | None] | None = None,
                       not_run: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Render table ``table`` (``"table4"``, ``"table5"``, ``"table7"``, ``"table8"``) from its runs to md, csv and
    tex; ``paper_data_sets``: data set -> its config ``paper_data_set`` (or None); ``not_run``: variants that
    could not run here -> the reason their cells show.

    The caption says what the numbers aggregate: the runs' count, data sets, settings, seeds, epochs and device.
    """
    from evaluation.tables import render_table, write_table

    table_id = table.removeprefix("table")
    references = paper_data_sets or {}
    frame = aggregate_runs(run_dirs)
    datasets = sorted(set(frame["dataset"]))
    row_labels = {variant: paper_rows.get(variant) for variant in variants}
    rendered = build_method_table(
        frame, table_id, row_labels,
        lambda dataset, setting: paper_method_column(table_id, dataset, setting, references.get(dataset)),
        {dataset: dataset_label(dataset, references) for dataset in datasets},
        {variant: reason for variant, reason in (not_run or {}).items() if variant in row_labels})
    summaries = [load_run(run_dir) for run_dir in run_dirs]
    epochs = sorted({str(summary.get("config", {}).get("epochs", "?")) for summary in summaries})
    devices = sorted({str(summary.get("device", "?")) for summary in summaries})
    caption = (
        f"Ours: mean ± population std of the test Dice over the last evaluated epochs of each run, averaged over "
        f"seeds (the paper's protocol); seeds: mean ± sample std over seeds; paper: the published value; diff: "
        f"ours - paper (Dice points). Aggregates {len(summaries)} runs: "
        f"data sets {', '.join(datasets)}; settings {', '.join(sorted(set(frame['setting'])))}; "
        f"seeds {', '.join(str(seed) for seed in sorted(set(frame['seed'])))}; epochs {', '.join(epochs)}; "
        f"device {', '.join(devices)}.{conventions_caption(summaries)}{reference_caption(datasets, references)}"
        f"{not_run_caption(not_run or {}, row_labels)}"
    )
    if frame["collapse"].notna().any():
        caption += (f" {COLLAPSE_MARK}: at least one run of the cell collapsed (its final test predictions are empty, "
                    "or full, for every image; summary.json 'collapse').")
    write_table(render_table(rendered, METHOD_TABLE_TITLES.get(table_id, table), caption), paths)
    return rendered


def _cost_cell(values: Sequence[float | None], digits: int) -> str:
    """Mean of the measured values, or MISSING when none was measured (e.g. GPU memory on a CPU run)."""
    measured = [value for value in values if value is not None]
    return f"{np.mean(measured):.{digits}f}" if measured else MISSING


def write_cost_table(run_dirs: Sequence[str | os.PathLike[str]], variants: Sequence[str],
                     paper_rows: Mapping[str, str], paths: Mapping[str, str | os.PathLike[str]],
                     paper_data_sets: Mapping[str, str | None] | None = None) -> pd.DataFrame:
    """Table 10 from the runs behind Table 4: training time per data set, peak GPU memory, inference time.

    Ours is the mean over the runs of each (variant, data set) (over settings and seeds); the paper's values were
    measured on one RTX 4090 at 256x256 for 100 epochs, so the comparison is of proportions between methods, not
    of absolute times. The caption names the hardware the runs recorded. ``paper_data_sets``: data set -> its
    config ``paper_data_set`` (or None).
    """
    from evaluation.table3 import paper_column
    from evaluation.tables import render_table, write_table

    references = paper_data_sets or {}
    summaries = [load_run(run_dir) for run_dir in run_dirs]
    datasets = sorted({str(summary["dataset"]) for summary in summaries})
    records = []
    for variant in variants:
        runs = [summary for summary in summaries if summary["variant"] == variant]
        paper_row = paper_rows.get(variant)
        record: dict[str, str] = {"Variant": variant, "Paper row": paper_row or MISSING}
        for dataset in datasets:
            minutes = [summary["train_seconds_total"] / 60 for summary in runs if summary["dataset"] == dataset]
            compared = compared_data_set(dataset, references, paper_column)
            paper = paper_value("10", paper_row, f"Training time {compared} (min)") if paper_row and compared else None
            label = dataset_label(dataset, references)
            record[f"{label} training (min) ours"] = _cost_cell(minutes, 2)
            record[f"{label} training (min) paper"] = f"{paper[0]:.2f}" if paper else MISSING
        for label, key, column, digits in (("GPU memory (GB)", "peak_gpu_memory_gb", "Max GPU memory (GB)", 2),
                                           ("inference (ms/img)", "inference_ms_per_image", "Inference (ms/img)", 2)):
            paper = paper_value("10", paper_row, column) if paper_row else None
            record[f"{label} ours"] = _cost_cell([summary.get(key) for summary in runs], digits)
            record[f"{label} paper"] = f"{paper[0]:.2f}" if paper else MISSING
        records.append(record)
    devices = sorted({str(summary.get("device", "?")) for summary in summaries})
    epochs = sorted({str(summary.get("config", {}).get("epochs", "?")) for summary in summaries})
    caption = (
        f"Ours: mean over {len(summaries)} runs (settings and seeds) on {', '.join(devices)}, {', '.join(epochs)} "
        "epochs; training time is the sum of the epochs' training seconds, inference the forward pass and fusion "
        "per test image. Paper: one RTX 4090, 256x256, 100 epochs. Compare proportions between methods."
        + reference_caption(datasets, references)
    )
    write_table(render_table(pd.DataFrame(records), "Table 10: training and inference cost", caption), paths)
    return pd.DataFrame(records)
