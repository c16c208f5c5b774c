"""Searching tau without clean masks (paper Eq. 20, Fig. 10: search-loss curves over a sweep of tau0) and the
sensitivity of the final Dice to tau (Fig. 9), both from the tau-search runs."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import pandas as pd

from common.errors import InputError
from evaluation.figures import new_figure, save_figure, series_style, style_axis
from evaluation.runs import load_run
from evaluation.tables import render_table, write_table

SEARCH_LOSS_COLUMN = "search_loss"


def read_search_curves(epochs_csvs: Mapping[float, str | os.PathLike[str]]) -> pd.DataFrame:
    """Long frame (tau0, epoch, search_loss) from each run's ``epochs.csv`` (the per-epoch mean of Eq. 20)."""
    frames = []
    for tau0, path in epochs_csvs.items():
        try:
            epochs = pd.read_csv(path)
        except FileNotFoundError:
            raise InputError(f"{path}: file not found") from None
        if SEARCH_LOSS_COLUMN not in epochs.columns:
            raise InputError(f"{path}: no '{SEARCH_LOSS_COLUMN}' column (the method must log Eq. 20)")
        frames.append(pd.DataFrame({"tau0": tau0, "epoch": epochs["epoch"], "search_loss": epochs[SEARCH_LOSS_COLUMN]}))
    return pd.concat(frames, ignore_index=True)


def tau_estimate(curves: pd.DataFrame) -> float:
    """The tau0 whose search-loss curve reaches the lowest value over training (the paper's reading of Fig. 10)."""
    lowest = curves.groupby("tau0")["search_loss"].min()
    return float(lowest.idxmin())


def write_tau_search(epochs_csvs: Mapping[float, str | os.PathLike[str]], noise_rate: float | None,
                     figure_paths: Sequence[str | os.PathLike[str]],
                     table_paths: Mapping[str, str | os.PathLike[str]], title: str) -> float:
    """Plot the curves (Fig. 10) to each of ``figure_paths`` (png, pdf), write the per-tau0 table, and return the
    estimated tau."""
    curves = read_search_curves(epochs_csvs)
    estimate = tau_estimate(curves)
    figure = new_figure()
    axis = figure.subplots()
    for index, (tau0, curve) in enumerate(curves.groupby("tau0")):
        style = series_style(index)
        axis.plot(curve["epoch"] + 1, curve["search_loss"], color=style["color"], marker=style["marker"],
                  markersize=3, linewidth=2.2 if tau0 == estimate else 1.2,
                  linestyle="-" if tau0 == estimate else "--",
                  label=f"τ0 = {tau0:g}" + ("  (minimum)" if tau0 == estimate else ""))
    rate = f"; measured noise rate {noise_rate:.3f}" if noise_rate is not None else ""
    style_axis(axis, "epoch", "search loss, Eq. 20 (nats)", f"{title}\nestimated τ = {estimate:g}{rate}")
    axis.legend(fontsize=8, title="candidate τ0", title_fontsize=8)
    save_figure(figure, figure_paths)
    summary = curves.groupby("tau0")["search_loss"].agg(["min", "last"]).reset_index()
    table = pd.DataFrame({
        "tau0": [f"{tau0:g}" for tau0 in summary["tau0"]],
        "lowest search loss": [f"{value:.4f}" for value in summary["min"]],
        "final search loss": [f"{value:.4f}" for value in summary["last"]],
        "estimate": ["←" if tau0 == estimate else "" for tau0 in summary["tau0"]],
    })
    caption = f"Fig. 10's reading: the tau0 whose curve reaches the lowest search loss is the estimate{rate}."
    write_table(render_table(table, f"tau search: {title}", caption), table_paths)
    return estimate



def read_tau_runs(summaries: Mapping[float, str | os.PathLike[str]]) -> pd.DataFrame:
    """Frame (tau0, dice_mean, dice_std) in Dice points from each tau-search run's ``summary.json``: the mean and
    population std of the test Dice over the run's last K evaluated epochs."""
    rows = []
    for tau0, path in summaries.items():
        summary = load_run(os.path.dirname(path))
        rows.append({"tau0": float(tau0), "dice_mean": 100.0 * summary["dice_mean"],
                     "dice_std": 100.0 * summary["dice_std"], "eval_epochs": len(summary.get("eval_epochs", []))})
    return pd.DataFrame(rows).sort_values("tau0", kind="stable").reset_index(drop=True)


def write_tau_sensitivity(summaries: Mapping[float, str | os.PathLike[str]], noise_rate: float | None,
                          figure_paths: Sequence[str | os.PathLike[str]], title: str) -> pd.DataFrame:
    """Fig. 9: final test Dice (mean ± std over the last K epochs) against tau0, the measured noise rate marked.

    Returns the plotted frame (:func:`read_tau_runs`).
    """
    frame = read_tau_runs(summaries)
    figure = new_figure(6.0, 4.0)
    axis = figure.subplots()
    style = series_style(0)
    epochs = sorted(set(frame["eval_epochs"]))
    axis.errorbar(frame["tau0"], frame["dice_mean"], yerr=frame["dice_std"], color=style["color"],
                  marker=style["marker"], capsize=4, linewidth=1.6,
                  label=f"test Dice, mean ± std of the last {'/'.join(str(k) for k in epochs)} epochs")
    if noise_rate is not None:
        axis.axvline(noise_rate, color=series_style(1)["color"], linestyle="--", linewidth=1.4,
                     label=f"measured noise rate {noise_rate:.3f}")
    style_axis(axis, "τ (forget rate of the small-loss selection)", "test Dice (%)", title)
    axis.legend(fontsize=8, loc="lower left")
    save_figure(figure, figure_paths)
    return frame
