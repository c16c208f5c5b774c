"""Multi-rater results: Table 6 (Dice against each rater, beside the paper) and the raters' agreement figure.

A Table 6 run trains on a ``rater`` label source (noise.settings.RaterLabels): a fixed rater k (the paper's
single-rater rows "CE Loss A1" ...) or one rater sampled per image (rows "... Sample 100"; 100 is the share of
training images used, ``training.train_fraction``). Its ``summary.json`` holds ``rater_dice`` (each rater's
protocol value, mean and population std over the last K epochs, fractions); the mean column is the protocol
value averaged over raters (``dice_mean``). Tables are in Dice points.

The paper does not say how an empty prediction on an empty rater mask scores, so Table 6 comes under both rules:
the main table under each run's configured ``empty_mask_dice``, a companion under the other one (the runs'
``other_empty_mask_rule`` entry, scored from the same predictions by the engine); each caption names its rule.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.atomic import write_csv
from common.errors import InputError
from common.npz import read_npz
from evaluation.metrics import dice_per_image
from evaluation.paper import compared_data_set, dataset_label, paper_value, reference_caption
from evaluation.runs import load_run
from evaluation.tables import MISSING, comparison_columns, render_table, write_table

TABLE6_TITLE = "Table 6: Dice (%) against each rater on multi-rater data"
TABLE6_COMPANION_TITLE = "Table 6 (companion, the other empty-mask rule): Dice (%) against each rater"
#: The two empty-mask rules in words.
EMPTY_RULE_WORDS = {"one": "scores 1 (smoothed Dice, the reference's 2D script)",
                    "zero": "scores 0 (medpy, the reference's multi-expert scripts)"}

#: The suite's data set name, lower-cased, to the paper's Table 6 column prefix.
PAPER_MULTI_RATER_COLUMNS = {"lidc": "LIDC", "lidc-idri": "LIDC", "lidc_pickle": "LIDC", "mmis": "MMIS",
                             "mmis-2024": "MMIS", "mmis2024": "MMIS"}


def multi_rater_paper_column(dataset: str) -> str | None:
    """Table 6's column prefix ("LIDC", "MMIS") of a data set name, or None when the paper has none."""
    return PAPER_MULTI_RATER_COLUMNS.get(dataset.lower())


def rater_row_label(setting_spec: Mapping[str, Any], train_fraction: float) -> str:
    """The paper's row suffix of a rater label source: ``A{k+1}`` for rater k, ``Sample {percent}`` for sampled."""
    if setting_spec.get("model") != "rater":
        raise InputError(f"Table 6 needs rater label sources (model: rater), got {dict(setting_spec)!r}")
    rater = setting_spec["rater"]
    if rater == "sampled":
        return f"Sample {100 * train_fraction:g}"
    return f"A{int(rater) + 1}"


def _rater_means(summary: Mapping[str, Any], path: Path, companion: bool = False) -> dict[str, tuple[float, float]]:
    """``{"A1": (mean, std), ..., "mean": (mean, std)}`` in Dice points from a run summary; ``companion``: under
    the other empty-mask rule (its ``other_empty_mask_rule`` entry)."""
    if companion:
        other = summary.get("other_empty_mask_rule")
        if not isinstance(other, Mapping):
            raise InputError(f"{path}: no 'other_empty_mask_rule' entry; rerun it to score the other empty-mask rule")
        summary = other
    raters = summary.get("rater_dice")
    if not isinstance(raters, Mapping) or not raters:
        raise InputError(f"{path}: no 'rater_dice' entry; was the run trained on a multi-rater data set?")
    values = {rater: (100 * float(entry["mean"]), 100 * float(entry["std"])) for rater, entry in raters.items()}
    values["mean"] = (100 * float(summary["dice_mean"]), 100 * float(summary["dice_std"]))
    return values


def build_table6(run_dirs: Sequence[str | os.PathLike[str]], variants: Sequence[str], paper_rows: Mapping[str, str],
                 setting_specs: Mapping[str, Mapping[str, Any]],
                 paper_data_sets: Mapping[str, str | None], companion: bool = False) -> pd.DataFrame:
    """Table 6 as formatted strings: one row per (variant, label source), in ``variants`` then settings order.

    ``paper_data_sets`` maps a data set to its config ``paper_data_set`` (or None); the paper's column prefix
    ("LIDC", "MMIS") is that, else :func:`multi_rater_paper_column` of the name. Per data set and rater (A1..AR,
    then the mean): ours (mean over seeds ± mean last-K std), the paper's value, the difference. ``companion``:
    the scores under the other empty-mask rule.
    """
    records: dict[tuple[str, str, str], list[dict[str, tuple[float, float]]]] = {}
    labels: dict[tuple[str, str], str] = {}
    datasets: list[str] = []
    for run_dir in run_dirs:
        path = Path(run_dir) / "summary.json"
        summary = load_run(run_dir)
        dataset, setting, variant = str(summary["dataset"]), str(summary["setting"]), str(summary["variant"])
        if setting not in setting_specs:
            raise InputError(f"{path}: setting {setting!r} is not among the experiment's label sources")
        fraction = float(summary.get("config", {}).get("train_fraction", 1.0))
        labels[(variant, setting)] = rater_row_label(setting_specs[setting], fraction)
        records.setdefault((variant, setting, dataset), []).append(_rater_means(summary, path, companion))
        if dataset not in datasets:
            datasets.append(dataset)
    rows = []
    for variant in variants:
        for setting in setting_specs:
            if (variant, setting) not in labels:
                continue
            label = labels[(variant, setting)]
            paper_row = f"{paper_rows[variant]} {label}" if variant in paper_rows else None
            row = {"Variant": variant, "Labels": setting, "Paper row": paper_row or MISSING}
            for dataset in datasets:
                runs = records.get((variant, setting, dataset), [])
                metrics = list(runs[0]) if runs else []
                column = compared_data_set(dataset, paper_data_sets, multi_rater_paper_column)
                label = dataset_label(dataset, paper_data_sets)
                for metric in metrics:
                    ours_mean = float(np.mean([run[metric][0] for run in runs]))
                    ours_std = float(np.mean([run[metric][1] for run in runs]))
                    paper = paper_value("6", paper_row, f"{column} Dice_{metric}") if paper_row and column else None
                    cells = comparison_columns(ours_mean, ours_std, *(paper if paper else (None, None)))
                    for name, cell in cells.items():
                        row[f"{label} Dice_{metric} {name}"] = cell
                row[f"{label} seeds"] = f"n={len(runs)}"
            rows.append(row)
    return pd.DataFrame(rows)


def empty_rule_sentence(rules: Sequence[str], which: str) -> str:
    """The caption's empty-mask sentence for the rules a table shows; ``which`` says how they relate to the runs'
    configuration."""
    return ("In this table an empty prediction on an empty rater mask "
            + " / ".join(EMPTY_RULE_WORDS[rule] for rule in rules) + f": {which}.")


def write_table6(run_dirs: Sequence[str | os.PathLike[str]], variants: Sequence[str], paper_rows: Mapping[str, str],
                 setting_specs: Mapping[str, Mapping[str, Any]], paper_data_sets: Mapping[str, str | None],
                 paths: Mapping[str, str | os.PathLike[str]],
                 companion_paths: Mapping[str, str | os.PathLike[str]] | None = None) -> pd.DataFrame:
    """Render Table 6 to md, csv and tex under the runs' configured empty-mask rule, and (``companion_paths``) its
    companion under the other rule; each caption says what the runs were and names its rule
    (``paper_data_sets``: as :func:`build_table6`)."""
    summaries = [load_run(run_dir) for run_dir in run_dirs]
    epochs = sorted({str(summary.get("config", {}).get("epochs", "?")) for summary in summaries})
    devices = sorted({str(summary.get("device", "?")) for summary in summaries})
    seeds = sorted({int(summary["seed"]) for summary in summaries})
    rules = sorted({str(summary.get("config", {}).get("empty_mask_dice", "one")) for summary in summaries})
    common = (
        "Training labels: one rater for every image (rows A1..A4) or one rater sampled per image, cycled over the "
        "images in a seeded order (rows Sample p, p = % of training images used). Each column scores the same "
        "predictions against one rater; mean = the average over raters. Ours: mean ± population std over the last "
        f"evaluated epochs, averaged over seeds; diff = ours - paper (Dice points). {len(summaries)} runs; seeds "
        f"{', '.join(map(str, seeds))}; epochs {', '.join(epochs)}; device {', '.join(devices)}. The paper does not "
        "say how an empty prediction on an empty mask scores; Table 6 is given under both rules. "
    )
    references = reference_caption(sorted({str(summary["dataset"]) for summary in summaries}), paper_data_sets)
    table = build_table6(run_dirs, variants, paper_rows, setting_specs, paper_data_sets)
    caption = common + empty_rule_sentence(rules, "the runs' configured rule") + references
    write_table(render_table(table, TABLE6_TITLE, caption), paths)
    if companion_paths is not None:
        others = sorted({next(rule for rule in EMPTY_RULE_WORDS if rule != configured) for configured in rules})
        companion = build_table6(run_dirs, variants, paper_rows, setting_specs, paper_data_sets, companion=True)
        caption = common + empty_rule_sentence(others, "the rule the runs were not configured with") + references
        write_table(render_table(companion, TABLE6_COMPANION_TITLE, caption), companion_paths)
    return table


def pairwise_rater_dice(rater_masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean Dice between every two raters of ``(N, R, ...)`` masks, over the samples where either is non-empty.

    Returns the ``(R, R)`` matrix (1 on the diagonal) and the ``(R, R)`` counts of samples it averages.
    """
    masks = np.asarray(rater_masks).astype(bool)
    num_raters = masks.shape[1]
    agreement = np.eye(num_raters)
    counts = np.zeros((num_raters, num_raters), dtype=np.int64)
    flat = masks.reshape(len(masks), num_raters, -1)
    for first, second in combinations(range(num_raters), 2):
        either = flat[:, first].any(axis=1) | flat[:, second].any(axis=1)
        counts[first, second] = counts[second, first] = int(either.sum())
        dice = dice_per_image(flat[either, first], flat[either, second]) if either.any() else np.array([np.nan])
        agreement[first, second] = agreement[second, first] = float(np.mean(dice))
    np.fill_diagonal(counts, [int(flat[:, rater].any(axis=1).sum()) for rater in range(num_raters)])
    return agreement, counts


def rater_agreement(prepared_dirs: Mapping[str, str | os.PathLike[str]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """:func:`pairwise_rater_dice` of every multi-rater prepared set (all its samples)."""
    results = {}
    for dataset, folder in prepared_dirs.items():
        path = Path(folder) / "data.npz"
        results[dataset] = pairwise_rater_dice(read_npz(path, ["rater_masks"])["rater_masks"])
    return results


def write_rater_agreement(prepared_dirs: Mapping[str, str | os.PathLike[str]], figure_paths: Sequence[str],
                          csv_path: str | os.PathLike[str]) -> pd.DataFrame:
    """The raters' pairwise Dice matrix per data set: a heat map per data set (PNG, PDF) and a long CSV."""
    from evaluation.figures import new_figure, save_figure

    if not prepared_dirs:
        raise InputError("rater agreement: no multi-rater data set in the run")
    agreement = rater_agreement(prepared_dirs)
    figure = new_figure(width=3.6 * len(agreement), height=3.4)
    axes = figure.subplots(1, len(agreement), squeeze=False)[0]
    records = []
    for axis, (dataset, (matrix, counts)) in zip(axes, agreement.items(), strict=True):
        names = [f"A{rater + 1}" for rater in range(len(matrix))]
        image = axis.imshow(100 * matrix, cmap="cividis", vmin=0, vmax=100)
        for row in range(len(matrix)):
            for col in range(len(matrix)):
                value = 100 * matrix[row, col]
                axis.text(col, row, f"{value:.1f}", ha="center", va="center", fontsize=9,
                          color="black" if value > 60 else "white")
                records.append({"dataset": dataset, "rater_a": names[row], "rater_b": names[col],
                                "dice": round(value, 4), "n_samples": int(counts[row, col])})
        axis.set_xticks(range(len(names)), names)
        axis.set_yticks(range(len(names)), names)
        axis.set_xlabel("rater", fontsize=10)
        axis.set_ylabel("rater", fontsize=10)
        axis.set_title(dataset, fontsize=10)
        figure.colorbar(image, ax=axis, shrink=0.8, label="Dice between raters (%)")
    save_figure(figure, figure_paths)
    frame = pd.DataFrame(records, columns=["dataset", "rater_a", "rater_b", "dice", "n_samples"])
    write_csv(csv_path, frame)
    return frame
