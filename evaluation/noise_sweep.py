"""Fig. 11: test Dice against noise intensity, from the runs of the ``noise_sweep`` config section.

Each sweep point is a derived noise setting (one value of one parameter of a base setting); its measured noise
level is the mean Dice of the noisy against the clean training masks (``summary.json`` of the noise folder), so
methods are compared on the axis the paper's Table 3 uses, whatever parameter was swept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from common.errors import InputError
from evaluation.figures import new_figure, save_figure, series_style, style_axis
from evaluation.runs import aggregate_runs, seed_cell
from evaluation.table3 import json_number, read_json
from evaluation.tables import format_mean_std, render_table, write_table


def sweep_frame(run_dirs: Sequence[str | os.PathLike[str]], noise_summaries: Mapping[str, str | os.PathLike[str]],
                values: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (sweep point, variant): value, setting, noisy-label Dice and noise rate, and the runs' Dice.

    ``noise_summaries`` and ``values`` map each derived setting to its noise ``summary.json`` and its swept value.
    Dice in points: ``dice_mean`` (mean over seeds of the last-K means), ``dice_std`` (mean last-K std),
    ``n_seeds``, ``seeds`` (:func:`evaluation.runs.seed_cell`).
    """
    runs = aggregate_runs(run_dirs)
    rows = []
    for setting, path in noise_summaries.items():
        summary = read_json(Path(path))
        label_dice = 100.0 * json_number(summary, "dice_mean", Path(path))
        noise_rate = json_number(summary, "noise_rate", Path(path))
        point = runs[runs["setting"] == setting]
        if point.empty:
            raise InputError(f"{path}: no training run on sweep setting {setting!r}")
        for variant, group in point.groupby("variant", sort=False):
            rows.append({"setting": setting, "value": json.dumps(values[setting]), "label_dice": label_dice,
                         "noise_rate": noise_rate, "variant": variant, "dice_mean": float(group["dice_mean"].mean()),
                         "dice_std": float(group["dice_std"].mean()), "n_seeds": len(group),
                         "seeds": seed_cell(group)})
    return pd.DataFrame(rows)


def plot_noise_sweep(frame: pd.DataFrame, figure_paths: Sequence[str | os.PathLike[str]], title: str,
                     parameter: str) -> None:
    """Fig. 11: per variant, test Dice (± last-K std) against the noisy labels' Dice; points labelled by value."""
    figure = new_figure(6.4, 4.4)
    axis = figure.subplots()
    for index, (variant, group) in enumerate(frame.groupby("variant", sort=False)):
        group = group.sort_values("label_dice")
        style = series_style(index)
        axis.errorbar(group["label_dice"], group["dice_mean"], yerr=group["dice_std"], color=style["color"],
                      marker=style["marker"], linestyle=style["linestyle"], capsize=3, linewidth=1.6, label=variant)
    points = frame.drop_duplicates("setting")
    for row in points.itertuples():
        axis.annotate(f"{parameter} {row.value}", (row.label_dice, 0.02), xycoords=axis.get_xaxis_transform(),
                      fontsize=7, color="#555555", rotation=90, ha="right", va="bottom", xytext=(-3, 0),
                      textcoords="offset points")
    style_axis(axis, "noise level: Dice of the noisy vs clean training labels (%)  → less noise",
               "test Dice (%)", title)
    axis.legend(fontsize=8, title="method", title_fontsize=8, loc="best")
    save_figure(figure, figure_paths)


def write_noise_sweep(run_dirs: Sequence[str | os.PathLike[str]], noise_summaries: Mapping[str, str | os.PathLike[str]],
                      sweep: Mapping[str, Any], settings: Sequence[str], figure_paths: Sequence[str | os.PathLike[str]],
                      table_paths: Mapping[str, str | os.PathLike[str]]) -> pd.DataFrame:
    """Fig. 11 and its table from the sweep's runs. ``sweep`` is the config section, ``settings`` the derived
    setting of each of its values (in order)."""
    values = dict(zip(settings, sweep["values"], strict=True))
    frame = sweep_frame(run_dirs, noise_summaries, values)
    title = f"{sweep['dataset']}: {sweep['base_setting']} with {sweep['parameter']} swept"
    plot_noise_sweep(frame, figure_paths, title, sweep["parameter"])
    table = pd.DataFrame({
        "Setting": frame["setting"], sweep["parameter"]: frame["value"],
        "Noisy-label Dice": [f"{value:.2f}" for value in frame["label_dice"]],
        "Noise rate": [f"{value:.3f}" for value in frame["noise_rate"]], "Variant": frame["variant"],
        "Test Dice": [format_mean_std(mean, std) for mean, std in zip(frame["dice_mean"], frame["dice_std"],
                                                                       strict=True)],
        "Seeds": frame["seeds"],
    })
    caption = (f"Fig. 11's data: each {sweep['parameter']} value of {sweep['base_setting']} on {sweep['dataset']}; "
               "noisy-label Dice: mean Dice of the noisy vs clean training masks; test Dice: mean ± population std "
               "over the last evaluated epochs (mean over seeds); seeds: mean ± sample std over seeds.")
    write_table(render_table(table, f"Dice against noise intensity ({sweep['dataset']})", caption), table_paths)
    return frame
