"""Paired comparisons of methods over per-image Dice (statistics the paper does not report).

For one (data set, setting, seed), each run's ``per_image.csv`` gives the Dice of every test image at each
evaluated epoch; an image's score is its mean over those epochs (the protocol's last K). Two methods are compared
on the same test images: the mean difference, a percentile bootstrap 95 % confidence interval of it (images
resampled with replacement, seeded), and the two-sided Wilcoxon signed-rank test.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from common.errors import InputError

BOOTSTRAP_RESAMPLES = 10_000


def per_image_scores(run_dir: str | os.PathLike[str]) -> pd.Series:
    """Dice (points) per test image, averaged over the run's evaluated epochs, indexed by image name."""
    path = Path(run_dir) / "per_image.csv"
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    if not {"epoch", "name", "dice"} <= set(frame.columns):
        raise InputError(f"{path}: expected columns epoch, name, dice")
    return 100.0 * frame.groupby("name")["dice"].mean()


def paired_comparison(scores: pd.Series, reference: pd.Series, seed: int = 0) -> dict[str, float]:
    """``scores - reference`` on their common images: mean, bootstrap 95 % CI, Wilcoxon p-value, n."""
    common = scores.index.intersection(reference.index)
    if len(common) != len(scores) or len(common) != len(reference):
        raise InputError("paired comparison: the two runs were scored on different test images")
    differences = (scores.loc[common] - reference.loc[common]).to_numpy()
    rng = np.random.default_rng(seed)
    resampled = rng.integers(0, len(differences), size=(BOOTSTRAP_RESAMPLES, len(differences)))
    means = differences[resampled].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    p_value = float(wilcoxon(differences).pvalue) if np.any(differences != 0) else 1.0
    return {"mean_diff": float(differences.mean()), "ci_low": float(low), "ci_high": float(high),
            "p_wilcoxon": p_value, "n": float(len(differences))}


def comparison_table(run_dirs: Sequence[str | os.PathLike[str]], references: Sequence[str]) -> pd.DataFrame:
    """Every run against each reference variant of the same (data set, setting, seed): one row per pair."""
    runs = {}
    for run_dir in run_dirs:
        folder = Path(run_dir)
        key = (folder.parent.parent.parent.name, folder.parent.parent.name, folder.name.removeprefix("seed"))
        runs.setdefault(key, {})[folder.parent.name] = folder
    rows = []
    for (dataset, setting, seed), variants in sorted(runs.items()):
        for reference in references:
            if reference not in variants:
                continue
            reference_scores = per_image_scores(variants[reference])
            for variant, folder in variants.items():
                if variant == reference:
                    continue
                result = paired_comparison(per_image_scores(folder), reference_scores)
                rows.append({"dataset": dataset, "setting": setting, "seed": seed, "variant": variant,
                             "versus": reference, **result})
    return pd.DataFrame(rows)


def format_comparisons(frame: pd.DataFrame) -> pd.DataFrame:
    """Formatted strings for rendering: difference with its CI, p-value, n."""
    return pd.DataFrame({
        "Data set": frame["dataset"], "Setting": frame["setting"], "Seed": frame["seed"],
        "Variant": frame["variant"], "Versus": frame["versus"],
        "Δ Dice (points)": [f"{row.mean_diff:+.2f} [{row.ci_low:+.2f}, {row.ci_high:+.2f}]"
                            for row in frame.itertuples()],
        "Wilcoxon p": [f"{p:.2g}" for p in frame["p_wilcoxon"]],
        "n images": [str(int(n)) for n in frame["n"]],
    })
