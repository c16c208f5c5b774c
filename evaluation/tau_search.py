"""Searching tau without clean masks (paper Eq. 20, Fig. 10): search-loss curves over a sweep of tau0."""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from common.atomic import atomic_path
from common.errors import InputError
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
                     out_png: str | os.PathLike[str], table_paths: Mapping[str, str | os.PathLike[str]],
                     title: str) -> float:
    """Plot the curves (Fig. 10), write the per-tau0 table, and return the estimated tau."""
    curves = read_search_curves(epochs_csvs)
    estimate = tau_estimate(curves)
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
    for index, (tau0, curve) in enumerate(curves.groupby("tau0")):
        style = "-" if tau0 == estimate else "--"
        axis.plot(curve["epoch"] + 1, curve["search_loss"], style, color=colours[index % len(colours)],
                  label=f"τ0 = {tau0:g}" + ("  (minimum)" if tau0 == estimate else ""))
    axis.set_xlabel("epoch")
    axis.set_ylabel("search loss, Eq. 20 (nats)")
    rate = f"; measured noise rate {noise_rate:.3f}" if noise_rate is not None else ""
    axis.set_title(f"{title}\nestimated τ = {estimate:g}{rate}", fontsize=10)
    axis.legend(fontsize=8)
    with atomic_path(out_png) as tmp:
        figure.savefig(tmp, format="png", dpi=120)
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

