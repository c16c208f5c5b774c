"""Boundary metrics beside Dice: HD95 and normalised surface Dice of each run's final test predictions.

Inputs: a run's ``predictions.npz`` (``masks`` bool ``(N, ...)``, ``names``: the fused test predictions of its
last epoch, written by the engine) and the prepared ``data.npz`` whose test masks are the clean reference. Both
metrics are in pixels (voxels for volumes) at the working size; NSD counts surface pixels within
:data:`NSD_TOLERANCE_PX` of the other surface (Nikolov et al. 2021).

Empty-mask rule (``evaluation.metrics``): an image whose prediction and clean mask are both empty scores HD95 0
and, in Dice and NSD, the run's empty-mask score (1 by default; 0 where the run set ``empty_mask_dice: zero``);
where exactly one is empty HD95 is undefined (no surface to match): such images are left out of the HD95 mean and
counted, and score NSD 0.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from adapters.prepare import read_split
from common.errors import InputError
from common.npz import read_npz
from evaluation.metrics import EMPTY_MASK_SCORES, dice_per_image, hd95, normalized_surface_dice
from evaluation.tables import MISSING, render_table, setting_sort_key, write_table

#: NSD tolerance in pixels at the working size (2 px at 256x256 is under 1 % of the image side).
NSD_TOLERANCE_PX = 2.0


def clean_test_masks(prepared_dir: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The clean test masks of a prepared data set by name (bool), from ``data.npz`` and ``split.csv``."""
    prepared = Path(prepared_dir)
    data = read_npz(prepared / "data.npz", ["masks", "names"])
    names = data["names"].astype(str)
    test = read_split(prepared, names) == "test"
    return {str(name): mask.astype(bool) for name, mask in zip(names[test], data["masks"][test], strict=True)}


def image_scores(predictions_path: str | os.PathLike[str], clean: dict[str, np.ndarray],
                 tolerance: float = NSD_TOLERANCE_PX, empty_score: float = 1.0) -> pd.DataFrame:
    """Per test image of one run: ``name``, ``dice``, ``hd95`` (NaN where undefined), ``nsd`` (fractions / px).

    An empty prediction on an empty mask scores ``empty_score`` in Dice and NSD (the run's ``empty_mask_dice``)."""
    path = Path(predictions_path)
    arrays = read_npz(path, ["masks", "names"])
    rows = []
    for name, prediction in zip(arrays["names"].astype(str).tolist(), arrays["masks"].astype(bool), strict=True):
        if name not in clean:
            raise InputError(f"{path}: prediction for {name!r}, which is not a test image of the prepared set")
        target = clean[name]
        if prediction.shape != target.shape:
            raise InputError(f"{path}: prediction {name!r} has shape {prediction.shape}, the mask {target.shape}")
        distance = hd95(prediction, target)
        both_empty = not prediction.any() and not target.any()
        rows.append({"name": name,
                     "dice": float(dice_per_image(prediction[None], target[None], empty_score=empty_score)[0]),
                     "hd95": distance if math.isfinite(distance) else math.nan,
                     "nsd": empty_score if both_empty else normalized_surface_dice(prediction, target, tolerance)})
    if len(rows) != len(clean):
        raise InputError(f"{path}: {len(rows)} predictions for {len(clean)} test images")
    return pd.DataFrame(rows)


def run_empty_score(predictions_path: str | os.PathLike[str]) -> float:
    """The empty-mask score of the run that wrote ``predictions_path`` (its ``summary.json``'s
    ``config.empty_mask_dice``; 1 where the summary does not say)."""
    summary_path = Path(predictions_path).with_name("summary.json")
    rule = json.loads(summary_path.read_text()).get("config", {}).get("empty_mask_dice", "one") \
        if summary_path.is_file() else "one"
    return EMPTY_MASK_SCORES[rule]


def run_key(predictions_path: str | os.PathLike[str]) -> tuple[str, str, str, str]:
    """(dataset, setting, variant, seed folder) of ``results/runs/{dataset}/{setting}/{variant}/seed{N}/...``."""
    folder = Path(predictions_path).parent
    return folder.parent.parent.parent.name, folder.parent.parent.name, folder.parent.name, folder.name


def boundary_frame(predictions: Sequence[str | os.PathLike[str]], prepared_root: str | os.PathLike[str],
                   tolerance: float = NSD_TOLERANCE_PX) -> pd.DataFrame:
    """One row per run: dataset, setting, variant, seed, mean Dice / HD95 / NSD over its test images (Dice and NSD
    in points), and ``undefined`` (images left out of HD95)."""
    masks: dict[str, dict[str, np.ndarray]] = {}
    rows = []
    for path in predictions:
        dataset, setting, variant, seed = run_key(path)
        if dataset not in masks:
            masks[dataset] = clean_test_masks(Path(prepared_root) / dataset)
        scores = image_scores(path, masks[dataset], tolerance, run_empty_score(path))
        rows.append({"dataset": dataset, "setting": setting, "variant": variant, "seed": seed,
                     "dice": 100.0 * scores["dice"].mean(), "hd95": scores["hd95"].mean(),
                     "nsd": 100.0 * scores["nsd"].mean(), "undefined": int(scores["hd95"].isna().sum())})
    return pd.DataFrame(rows, columns=["dataset", "setting", "variant", "seed", "dice", "hd95", "nsd", "undefined"])


def _mean_cell(values: pd.Series, digits: int = 2) -> str:
    """Mean over seeds, ``—`` when nothing was defined."""
    values = values.dropna()
    return f"{values.mean():.{digits}f}" if len(values) else MISSING


def build_boundary_table(frame: pd.DataFrame, variants: Sequence[str], tolerance: float) -> pd.DataFrame:
    """Formatted table: rows = variants; per (data set, setting): Dice, HD95 (px), NSD (means over seeds)."""
    pairs = sorted(dict.fromkeys(zip(frame["dataset"], frame["setting"], strict=True)),
                   key=lambda pair: (pair[0], setting_sort_key(pair[1])))
    records = []
    for variant in variants:
        record = {"Variant": variant}
        for dataset, setting in pairs:
            runs = frame[(frame["variant"] == variant) & (frame["dataset"] == dataset) & (frame["setting"] == setting)]
            label = f"{dataset} {setting}"
            hd95_cell = _mean_cell(runs["hd95"])
            undefined = int(runs["undefined"].sum())
            record[f"{label} Dice"] = _mean_cell(runs["dice"])
            record[f"{label} HD95 (px)"] = f"{hd95_cell} ({undefined} undef.)" if undefined else hd95_cell
            record[f"{label} NSD@{tolerance:g}px"] = _mean_cell(runs["nsd"])
        records.append(record)
    return pd.DataFrame(records)


def write_boundary_table(predictions: Sequence[str | os.PathLike[str]], prepared_root: str | os.PathLike[str],
                         table: str, variants: Sequence[str], paths: dict[str, str | os.PathLike[str]],
                         tolerance: float = NSD_TOLERANCE_PX) -> pd.DataFrame:
    """The boundary companion of method table ``table`` (md, csv, tex)."""
    frame = boundary_frame(predictions, prepared_root, tolerance)
    rendered = build_boundary_table(frame, variants, tolerance)
    seeds = ", ".join(sorted(set(frame["seed"])))
    caption = (
        f"Final-epoch test predictions of the runs behind {table} ({seeds}), against the clean test masks at the "
        f"working size, means over images and then seeds (the method table averages the last K evaluated epochs "
        f"instead). Dice (%); HD95: 95th percentile of the surface distances of both directions pooled (medpy's "
        f"hd95; MONAI takes the larger of the two directed 95th percentiles), in pixels; NSD: normalised surface "
        f"Dice (%) at {tolerance:g} px tolerance, counting boundary pixels (MONAI's definition). Empty masks: both "
        f"empty scores HD95 0 and, in Dice and NSD, the runs' empty-mask score (1 unless a run sets "
        f"training.empty_mask_dice: zero); where exactly one is empty, HD95 is undefined (left out of the mean, "
        f"counted as 'undef.') and NSD is 0."
    )
    number = table.removeprefix("table")
    write_table(render_table(rendered, f"Table {number}, boundary metrics: Dice, HD95, NSD", caption), paths)
    return rendered
