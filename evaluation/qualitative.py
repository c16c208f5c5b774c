"""Qualitative panel per data set: test images, their clean masks, a noisy mask and each method's prediction.

Rows: ``n_images`` test images drawn with ``numpy.random.default_rng(seed)`` from the test split (sorted by
name). Columns: the image, the clean mask, an *illustrative* noisy mask (test masks are never noised for
training: the column applies the run's noise setting to the test mask with the suite's per-sample seed,
``noise.seeding.sample_seed(dataset, setting, name, seed)``, at the setting's resolution), then each variant's
final-epoch prediction (``predictions.npz``) titled with its Dice. Masks are drawn filled over the image with the
clean contour on top. Volumes show the axial slice with the most clean foreground.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D

from adapters.masks import resize_mask
from adapters.prepare import read_split
from common.errors import InputError
from common.npz import read_npz
from evaluation.figures import CLEAN_COLOUR, OKABE_ITO, mask_contours, new_figure, save_figure
from evaluation.metrics import dice_per_image
from noise.seeding import sample_seed
from noise.settings import parse_setting

_PANEL_INCHES = 1.9
#: Fill colours: clean mask (blue), noisy mask (vermillion), predictions (bluish green).
_FILL = {"clean": OKABE_ITO[0], "noisy": OKABE_ITO[1], "prediction": OKABE_ITO[2]}


def choose_test_images(names: Sequence[str], n_images: int, seed: int) -> list[str]:
    """``n_images`` names drawn without replacement with ``default_rng(seed)`` (all if fewer), sorted."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(names), size=min(n_images, len(names)), replace=False)
    return sorted(str(names[index]) for index in chosen)


def illustrative_noisy_mask(dataset: str, name: str, setting_name: str, setting_spec: Mapping[str, Any],
                            resolution: str, working: np.ndarray, original: np.ndarray | None,
                            seed: int) -> np.ndarray | None:
    """The noise setting applied to one test mask (bool, working size), or None for a label source that cannot
    be applied to a single mask (e.g. another rater's annotation)."""
    setting = parse_setting(setting_name, setting_spec)
    if not hasattr(setting, "apply"):
        return None
    source = original if resolution == "original" and original is not None else working
    noisy = setting.apply(source.astype(bool), np.random.default_rng(sample_seed(dataset, setting_name, name, seed)))
    return resize_mask(noisy, working.shape).astype(bool)


def _display_slice(mask: np.ndarray) -> int | None:
    """For a volume ``(D, H, W)``: the slice with the most foreground; None for a 2D mask."""
    if mask.ndim == 2:
        return None
    return int(np.argmax(mask.reshape(mask.shape[0], -1).sum(axis=1)))


def _draw(axis, image: np.ndarray, mask: np.ndarray | None, colour: str, clean: np.ndarray, title: str) -> None:
    """The image, ``mask`` filled in ``colour`` (if any) and the clean contour; no ticks."""
    if image.shape[-1] == 1:
        axis.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
    else:
        axis.imshow(image)
    if mask is not None:
        overlay = np.zeros((*mask.shape, 4))
        overlay[mask] = to_rgba(colour, alpha=0.45)
        axis.imshow(overlay)
    for contour in mask_contours(clean):
        axis.plot(contour[:, 1], contour[:, 0], color=CLEAN_COLOUR, linewidth=1.2)
    axis.set_title(title, fontsize=8)
    axis.set_xticks([])
    axis.set_yticks([])


def qualitative_figure(prepared_dir: str | os.PathLike[str], predictions: Mapping[str, str | os.PathLike[str]],
                       setting_name: str, setting_spec: Mapping[str, Any], resolution: str,
                       figure_paths: Sequence[str | os.PathLike[str]], n_images: int = 3, seed: int = 0) -> list[str]:
    """Write the panel of one data set; ``predictions`` maps each variant to its run's ``predictions.npz``.

    Returns the names of the test images shown.
    """
    prepared = Path(prepared_dir)
    dataset = prepared.name
    data = read_npz(prepared / "data.npz", ["images", "masks", "names"])
    names = data["names"].astype(str)
    test_names = [str(name) for name in names[read_split(prepared, names) == "test"]]
    index_of = {str(name): position for position, name in enumerate(names)}
    predicted: dict[str, dict[str, np.ndarray]] = {}
    for variant, path in predictions.items():
        arrays = read_npz(path, ["masks", "names"])
        predicted[variant] = dict(zip(arrays["names"].astype(str).tolist(), arrays["masks"].astype(bool), strict=True))
        missing = sorted(set(test_names) - set(predicted[variant]))
        if missing:
            raise InputError(f"{path}: no prediction for test image {missing[0]!r}")
    chosen = choose_test_images(test_names, n_images, seed)
    originals = {}
    if resolution == "original":
        originals = read_npz(prepared / "original_masks.npz", chosen)

    columns = ["image", "clean mask", f"{setting_name} (illustration)", *predictions]
    figure = new_figure(_PANEL_INCHES * len(columns), _PANEL_INCHES * len(chosen) + 0.9)
    axes = figure.subplots(len(chosen), len(columns), squeeze=False)
    for row, name in enumerate(chosen):
        image = data["images"][index_of[name]]
        clean = data["masks"][index_of[name]].astype(bool)
        noisy = illustrative_noisy_mask(dataset, name, setting_name, setting_spec, resolution, clean,
                                        originals.get(name), seed)
        masks = {variant: predicted[variant][name] for variant in predictions}
        depth = _display_slice(clean)
        if depth is not None:
            image, clean = image[depth], clean[depth]
            noisy = noisy[depth] if noisy is not None else None
            masks = {variant: mask[depth] for variant, mask in masks.items()}
        short = name if len(name) <= 18 else name[:15] + "..."
        _draw(axes[row, 0], image, None, "", clean, short)
        _draw(axes[row, 1], image, clean, _FILL["clean"], clean, "clean mask")
        if noisy is None:
            axes[row, 2].set_axis_off()
        else:
            dice = 100 * dice_per_image(noisy[None], clean[None])[0]
            _draw(axes[row, 2], image, noisy, _FILL["noisy"], clean, f"{setting_name} (illustr.), Dice {dice:.1f}")
        for column, (variant, mask) in enumerate(masks.items(), start=3):
            dice = 100 * dice_per_image(mask[None], clean[None])[0]
            _draw(axes[row, column], image, mask, _FILL["prediction"], clean, f"{variant}, Dice {dice:.1f}")
    handles = [Line2D([], [], color=CLEAN_COLOUR, linewidth=1.2, label="clean contour"),
               Line2D([], [], color=_FILL["noisy"], linewidth=6, alpha=0.45, label="noisy mask (illustration)"),
               Line2D([], [], color=_FILL["prediction"], linewidth=6, alpha=0.45, label="prediction")]
    figure.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False, fontsize=8)
    figure.suptitle(f"{dataset}: test images, runs trained under {setting_name} (final epoch)", fontsize=10)
    save_figure(figure, figure_paths)
    return chosen
