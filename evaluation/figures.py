"""Figures: examples of the simulated label noise (clean vs noisy contours on training images)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from skimage.measure import find_contours

from adapters.prepare import read_split
from common.atomic import atomic_path
from common.errors import InputError
from common.npz import read_npz
from evaluation.metrics import dice_per_image
from evaluation.table3 import read_json
from evaluation.tables import setting_sort_key

#: Okabe-Ito colours (colour-blind safe): blue for the clean contour, vermillion for the noisy one.
CLEAN_COLOUR = "#0072B2"
NOISY_COLOUR = "#D55E00"

_PANEL_INCHES = 2.6
#: A thin white halo keeps the contours visible on busy or dark images.
_HALO = [patheffects.withStroke(linewidth=3.2, foreground="white")]


def mask_contours(mask: np.ndarray) -> list[np.ndarray]:
    """Closed iso-0.5 contours of a binary mask as (row, col) arrays (the mask is padded so edges close)."""
    return [contour - 1 for contour in find_contours(np.pad(mask.astype(float), 1), 0.5)]


def axial_view(image: np.ndarray, clean: np.ndarray, noisy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What a panel shows of a sample: an image ``(H, W, C)`` as is; of a volume ``(D, H, W, C)`` the axial slice
    where the clean mask is largest, its last channel (BraTS: FLAIR) as grey ``(H, W, 1)``, with the masks' slice."""
    if clean.ndim == 2:
        return image, clean, noisy
    depth = int(np.argmax(clean.reshape(len(clean), -1).sum(axis=1)))
    return image[depth][..., -1:], clean[depth], noisy[depth]


def noise_examples_figure(prepared_dir: str | os.PathLike[str], noise_dirs: Mapping[str, str | os.PathLike[str]],
                          out_png: str | os.PathLike[str], n_examples: int = 4, seed: int = 0,
                          title_suffix: str = "") -> None:
    """Write a grid (rows: training images drawn with ``seed``; columns: settings) of clean vs noisy contours.

    ``prepared_dir`` is ``results/prepared/{dataset}``; ``noise_dirs`` maps each setting to its
    ``results/noise/{dataset}/{setting}`` folder. Each panel shows the image, the clean contour (blue, solid) and
    the noisy contour (vermillion, dashed), titled with the setting and that image's Dice(noisy, clean). Volumes
    show one axial slice (:func:`axial_view`) and the Dice of the whole volume.
    """
    if not noise_dirs:
        raise ValueError("noise_examples_figure needs at least one noise setting")
    prepared = Path(prepared_dir)
    metadata = read_json(prepared / "metadata.json")
    data = read_npz(prepared / "data.npz", ["images", "masks", "names"])
    index_of = {str(name): position for position, name in enumerate(data["names"])}
    settings = sorted(noise_dirs, key=setting_sort_key)
    noisy: dict[str, dict[str, np.ndarray]] = {}
    for setting in settings:
        path = Path(noise_dirs[setting]) / "noisy_masks.npz"
        arrays = read_npz(path, ["masks", "names"])
        noisy[setting] = {str(name): mask for name, mask in zip(arrays["names"], arrays["masks"], strict=True)}
    train_names = data["names"][read_split(prepared, data["names"]) == "train"].tolist()
    candidates = [name for name in train_names
                  if name in index_of and all(name in noisy[setting] for setting in settings)]
    if not candidates:
        raise InputError(f"{prepared / 'split.csv'}: no training image has a noisy mask in every setting")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(candidates), size=min(n_examples, len(candidates)), replace=False))
    names = [candidates[position] for position in chosen]

    figure = Figure(figsize=(_PANEL_INCHES * len(settings), (_PANEL_INCHES + 0.3) * len(names) + 0.8),
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(names), len(settings), squeeze=False)
    for row, name in enumerate(names):
        image = data["images"][index_of[name]]
        clean = data["masks"][index_of[name]].astype(bool)
        for column, setting in enumerate(settings):
            axis = axes[row, column]
            noisy_mask = noisy[setting][name].astype(bool)
            dice = dice_per_image(noisy_mask[None], clean[None])[0]
            shown, clean_shown, noisy_shown = axial_view(image, clean, noisy_mask)
            if shown.shape[-1] == 1:
                axis.imshow(shown[..., 0], cmap="gray", vmin=0, vmax=255)
            else:
                axis.imshow(shown)
            for contour in mask_contours(clean_shown):
                axis.plot(contour[:, 1], contour[:, 0], color=CLEAN_COLOUR, linewidth=1.8, path_effects=_HALO)
            for contour in mask_contours(noisy_shown):
                axis.plot(contour[:, 1], contour[:, 0], color=NOISY_COLOUR, linewidth=1.8, linestyle="--",
                          path_effects=_HALO)
            axis.set_title(f"{setting}   Dice {100 * dice:.1f}", fontsize=10)
            axis.set_xticks([])
            axis.set_yticks([])
            if column == 0:
                axis.set_ylabel(name if len(name) <= 24 else name[:21] + "...", fontsize=8)
    dataset = str(metadata.get("dataset", prepared.name))
    kind = "synthetic (generated) data" if metadata.get("synthetic") is True else "training images"
    figure.suptitle(f"Simulated label noise on {dataset}: {kind}{title_suffix}", fontsize=12)
    handles = [Line2D([], [], color=CLEAN_COLOUR, linewidth=1.6, label="clean mask"),
               Line2D([], [], color=NOISY_COLOUR, linewidth=1.6, linestyle="--", label="noisy mask")]
    figure.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False, fontsize=10)
    with atomic_path(out_png) as tmp:
        figure.savefig(tmp, format="png", dpi=110)


def stack_figures(pngs: Sequence[str | os.PathLike[str]], out_png: str | os.PathLike[str]) -> None:
    """Stack PNG figures vertically (left-aligned, white padding) into one PNG, written atomically."""
    from matplotlib.image import imread, imsave

    images = [imread(str(path))[..., :3] for path in pngs]
    if not images:
        raise ValueError("stack_figures needs at least one figure")
    width = max(image.shape[1] for image in images)
    padded = [np.pad(image, ((0, 0), (0, width - image.shape[1]), (0, 0)), constant_values=1.0) for image in images]
    with atomic_path(out_png) as tmp:
        imsave(tmp, np.concatenate(padded, axis=0), format="png")


def noise_examples_overview(prepared_root: str | os.PathLike[str], noise_dirs: Mapping[str, Sequence[str]],
                            out_png: str | os.PathLike[str], n_examples: int = 3, seed: int = 0) -> None:
    """One PNG with a :func:`noise_examples_figure` block per data set (``noise_dirs``: dataset -> its noise dirs)."""
    out = Path(out_png)
    blocks = []
    for dataset, dirs in noise_dirs.items():
        block = out.with_name(f"{out.stem}_{dataset}.png")
        noise_examples_figure(Path(prepared_root) / dataset, {Path(path).name: path for path in dirs}, block,
                              n_examples=n_examples, seed=seed)
        blocks.append(block)
    stack_figures(blocks, out)


# One style for the result figures (Fig. 9, 10, 11, the qualitative panels): Okabe-Ito colours with distinct
# markers and line styles, so series differ in greyscale and for colour-blind readers too.

#: Okabe-Ito palette (colour-blind safe), in the order series are coloured.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_LINESTYLES = ("-", "--", "-.", ":")
#: Resolution of the PNG figures (the PDFs are vector).
FIGURE_DPI = 150


def series_style(index: int) -> dict[str, str]:
    """Colour, marker and line style of the ``index``-th series of a plot."""
    return {"color": OKABE_ITO[index % len(OKABE_ITO)], "marker": _MARKERS[index % len(_MARKERS)],
            "linestyle": _LINESTYLES[(index // len(OKABE_ITO)) % len(_LINESTYLES)]}


def new_figure(width: float = 6.4, height: float = 4.2) -> Figure:
    """A constrained-layout figure (inches) drawn with the Agg canvas (no display needed)."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def style_axis(axis, xlabel: str, ylabel: str, title: str = "") -> None:
    """Labels (with units), a light grid behind the data and readable tick labels."""
    axis.set_xlabel(xlabel, fontsize=10)
    axis.set_ylabel(ylabel, fontsize=10)
    if title:
        axis.set_title(title, fontsize=10)
    axis.grid(True, color="#dddddd", linewidth=0.6)
    axis.set_axisbelow(True)
    axis.tick_params(labelsize=9)


def save_figure(figure: Figure, paths: Sequence[str | os.PathLike[str]]) -> None:
    """Write ``figure`` to each path atomically, in the format its suffix names (``.png``, ``.pdf``).

    PDFs carry no creation date, so the same figure gives the same bytes.
    """
    for path in paths:
        suffix = Path(path).suffix.lstrip(".").lower()
        metadata = {"CreationDate": None} if suffix == "pdf" else {"Software": None}
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=suffix, dpi=FIGURE_DPI, metadata=metadata)
