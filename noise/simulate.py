"""Noisy training masks for a prepared data set, or for a folder of mask files (docs/architecture.md, "Noise").

Every sample draws from its own stream ``default_rng(sample_seed(dataset, setting, name, seed))``, so the result
is the same for any number of worker processes and for any subset of the other samples.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from PIL import Image

from adapters.masks import DEFAULT_MAX_GREY_SHARE, MASK_RULE, resize_mask
from adapters.prepare import read_split
from adapters.reading import read_mask
from common.atomic import write_csv, write_json, write_npz
from common.errors import InputError
from common.progress import with_progress
from common.provenance import provenance
from noise.seeding import sample_seed
from noise.settings import SAMPLED_RATER, LabelSource, NoiseSetting, RaterLabels, parse_setting

RESOLUTIONS = ("original", "working")
#: File suffixes read as masks by :func:`simulate_folder` (case-insensitive).
MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Dataset label in the per-sample seeds of :func:`simulate_folder`.
FOLDER_DATASET = "folder"
STATS_COLUMNS = ["name", "dice", "flipped_share", "foreground_change"]
#: A noisy mask with Dice below this against its clean mask counts as degenerate (erased, emptied or unrelated).
DEGENERATE_DICE = 0.05

TaskT = TypeVar("TaskT")
ResultT = TypeVar("ResultT")


def _parallel_map(function: Callable[[TaskT], ResultT], tasks: Sequence[TaskT], workers: int,
                  what: str = "noise") -> list[ResultT]:
    """``[function(task) for task in tasks]`` in order, over ``workers`` processes when more than one; logs
    progress (:func:`common.progress.with_progress`) as ``what``."""
    if workers < 1:
        raise InputError(f"workers: must be >= 1, got {workers}")
    if workers == 1:
        return list(with_progress(map(function, tasks), len(tasks), what))
    with ProcessPoolExecutor(workers) as pool:
        try:
            return list(with_progress(pool.map(function, tasks), len(tasks), what))
        except BrokenProcessPool:
            raise InputError("a worker process died while making noise (a crash in a file decoder, or out of "
                             "memory); rerun with one worker to see the file") from None


def mask_statistics(clean: np.ndarray, noisy: np.ndarray) -> dict[str, float]:
    """Dice of noisy vs clean, share of differing pixels, and (|noisy| - |clean|) / |clean| (NaN if clean empty)."""
    from evaluation.metrics import dice_per_image  # imports torch: loaded on first use, so --help stays quick

    clean = np.asarray(clean, dtype=bool)
    noisy = np.asarray(noisy, dtype=bool)
    clean_count = np.count_nonzero(clean)
    change = (np.count_nonzero(noisy) - clean_count) / clean_count if clean_count else float("nan")
    return {"dice": float(dice_per_image(noisy[None], clean[None])[0]),
            "flipped_share": float(np.count_nonzero(noisy != clean) / clean.size),
            "foreground_change": float(change)}


def _summary(stats: pd.DataFrame, pixel_counts: np.ndarray, setting_name: str, setting: LabelSource,
             resolution: str, seed: int) -> dict[str, Any]:
    """summary.json: Dice mean/std (population), min and max over the samples, noise rate tau (share of all pixels
    that differ), parameters."""
    changes = stats["foreground_change"].dropna()
    differing = np.sum(stats["flipped_share"].to_numpy() * pixel_counts)
    return {"setting": setting_name, "parameters": setting.parameters(), "resolution": resolution, "seed": int(seed),
            "n": len(stats), "dice_mean": float(stats["dice"].mean()), "dice_std": float(stats["dice"].std(ddof=0)),
            "dice_min": float(stats["dice"].min()), "dice_max": float(stats["dice"].max()),
            "noise_rate": float(differing / pixel_counts.sum()),
            "foreground_change_mean": float(changes.mean()) if len(changes) else None,
            "n_degenerate": int((stats["dice"] < DEGENERATE_DICE).sum()), "degenerate_dice": DEGENERATE_DICE}


def warn_degenerate(summary: Mapping[str, Any], where: str) -> None:
    """Log a warning when some noisy masks are degenerate (Dice < :data:`DEGENERATE_DICE` vs clean)."""
    if summary["n_degenerate"]:
        logging.getLogger("noise").warning(
            f"{where}: {summary['n_degenerate']} of {summary['n']} noisy masks are empty or nearly erased "
            f"(Dice < {DEGENERATE_DICE} vs clean); the setting may be too strong for this resolution")


def _noise_sample(task: tuple[np.ndarray, int, NoiseSetting, tuple[int, ...]]) -> np.ndarray:
    """Noise one mask with its own stream and bring it to the working size; uint8 in {0, 1}."""
    mask, stream_seed, setting, working_size = task
    noisy = setting.apply(mask, np.random.default_rng(stream_seed))
    return resize_mask(noisy, working_size)


def _load_npz(path: Path) -> np.lib.npyio.NpzFile:
    """Open an ``.npz`` (no pickle), InputError naming the file when missing or unreadable."""
    if not path.is_file():
        raise InputError(f"{path}: missing (run data preparation first)")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: unreadable (not an .npz archive)")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: unreadable ({error})") from error


def _training_indices(prepared: Path, names: np.ndarray) -> list[int]:
    """Indices of the training samples from split.csv, checked against data.npz's names."""
    split_path = prepared / "split.csv"
    if not split_path.is_file():
        raise InputError(f"{split_path}: missing (run data preparation first)")
    splits = read_split(prepared, names)
    train = np.flatnonzero(splits == "train").tolist()
    if not train:
        raise InputError(f"{split_path}: no training samples")
    return train


def simulate_dataset(prepared_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], dataset: str,
                     setting_name: str, setting_spec: Mapping[str, Any], resolution: str, seed: int,
                     workers: int = 1) -> dict[str, Any]:
    """Noise the TRAINING masks of a prepared data set; write noisy_masks.npz, stats.csv, summary.json.

    ``resolution`` "original": noise the mask as released (original_masks.npz), then resize it to the working size
    with ``adapters.masks.resize_mask`` (the clean masks' path); "working": noise the working-size clean mask.
    Statistics compare with the clean working-size masks (for a multi-rater set, the raters' consensus). A
    ``rater`` label source takes each image's mask from one rater (:class:`noise.settings.RaterLabels`, seeded by
    ``sample_seed(dataset, setting, "rater-order", seed)``; stats.csv then names the rater); it needs the set's
    ``rater_masks`` and the working resolution. Returns the summary.
    """
    if resolution not in RESOLUTIONS:
        raise InputError(f"resolution: unknown {resolution!r} for {dataset}/{setting_name} (original or working)")
    setting = parse_setting(setting_name, setting_spec)
    prepared = Path(prepared_dir)
    data_path = prepared / "data.npz"
    with _load_npz(data_path) as data:
        for key in ("masks", "names"):
            if key not in data.files:
                raise InputError(f"{data_path}: missing array {key!r}")
        clean_masks = data["masks"]
        names = data["names"]
        rater_masks = data["rater_masks"] if "rater_masks" in data.files else None
    train = _training_indices(prepared, names)
    train_names = [str(names[index]) for index in train]
    clean = clean_masks[train].astype(bool)
    working_size = tuple(clean_masks.shape[1:])
    chosen_raters = None
    if isinstance(setting, RaterLabels):
        if rater_masks is None:
            raise InputError(f"noise_settings.{setting_name}: model rater needs a multi-rater data set, but "
                             f"{data_path} has no rater_masks")
        if resolution != "working":
            raise InputError(f"datasets.{dataset}.noise.{setting_name}: rater labels exist at the working size "
                             f"only; set it to working")
        num_raters = rater_masks.shape[1]
        if setting.rater != SAMPLED_RATER and not int(setting.rater) < num_raters:
            raise InputError(f"noise_settings.{setting_name}.rater: rater {setting.rater} does not exist; "
                             f"{data_path} has {num_raters} raters (0 to {num_raters - 1})")
        chosen_raters = setting.choose(len(train), num_raters,
                                       np.random.default_rng(sample_seed(dataset, setting_name, "rater-order", seed)))
        noisy = rater_masks[train, chosen_raters].astype(np.uint8)
    elif resolution == "original":
        original_path = prepared / "original_masks.npz"
        with _load_npz(original_path) as originals:
            missing = [name for name in train_names if name not in originals.files]
            if missing:
                raise InputError(f"{original_path}: no mask for sample {missing[0]!r}")
            sources = [originals[name].astype(bool) for name in train_names]
    else:
        sources = list(clean)
    if chosen_raters is None:
        tasks = [(source, sample_seed(dataset, setting_name, name, seed), setting, working_size)
                 for source, name in zip(sources, train_names, strict=True)]
        noisy = np.stack(_parallel_map(_noise_sample, tasks, workers, f"noise {dataset}/{setting_name}"))
    stats = pd.DataFrame([{"name": name, **mask_statistics(clean_mask, noisy_mask)}
                          for name, clean_mask, noisy_mask in zip(train_names, clean, noisy, strict=True)],
                         columns=STATS_COLUMNS)
    if chosen_raters is not None:
        stats["rater"] = chosen_raters
    summary = _summary(stats, np.full(len(stats), np.prod(working_size)), setting_name, setting, resolution, seed)
    if chosen_raters is None:
        warn_degenerate(summary, f"{dataset}/{setting_name}")
    out = Path(out_dir)
    write_npz(out / "noisy_masks.npz", masks=noisy.astype(np.uint8), names=np.array(train_names, dtype=str))
    write_csv(out / "stats.csv", stats)
    summary["provenance"] = provenance()
    write_json(out / "summary.json", summary)
    return summary


def read_mask_file(path: Path, max_grey_share: float = DEFAULT_MAX_GREY_SHARE,
                   mask_channel: int | None = None) -> np.ndarray:
    """Read a mask image with the adapters' reader (:func:`adapters.reading.read_mask`); bool ``(H, W)``."""
    return read_mask(path, max_grey_share, mask_channel)


def _noise_file(task: tuple[Path, Path, int, NoiseSetting, float, int | None]) -> dict[str, float]:
    """Read, noise and write one mask file (PNG 0/255, same size); its statistics and pixel count."""
    source, target, stream_seed, setting, max_grey_share, mask_channel = task
    clean = read_mask_file(source, max_grey_share, mask_channel)
    noisy = setting.apply(clean, np.random.default_rng(stream_seed))
    try:
        Image.fromarray(noisy.astype(np.uint8) * np.uint8(255)).save(target, format="PNG")
    except OSError as error:
        raise InputError(f"{target}: cannot write ({error})") from error
    return {"name": source.stem, **mask_statistics(clean, noisy), "pixels": clean.size}


def simulate_folder(in_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], setting_name: str,
                    setting: NoiseSetting, seed: int, workers: int = 1,
                    max_grey_share: float = DEFAULT_MAX_GREY_SHARE, mask_channel: int | None = None) -> dict[str, Any]:
    """Noise every mask file in ``in_dir`` into ``out_dir`` as ``<stem>.png`` (0/255, same size), with stats.csv
    and summary.json. Works in a temporary folder beside ``out_dir`` and renames it at the end, so ``out_dir``
    appears complete or not at all; refuses an existing non-empty ``out_dir``. Returns the summary.
    """
    source = Path(in_dir)
    target = Path(out_dir)
    if not source.is_dir():
        raise InputError(f"{source}: input folder not found")
    files = sorted(path for path in source.iterdir()
                   if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in MASK_SUFFIXES)
    if not files:
        raise InputError(f"{source}: no mask files ({', '.join(MASK_SUFFIXES)})")
    duplicates = sorted(stem for stem, count in Counter(path.stem for path in files).items() if count > 1)
    if duplicates:
        raise InputError(f"{source}: several mask files named {duplicates[0]!r} (outputs are <name>.png)")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError(f"{target}: output folder exists and is not empty")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    except OSError as error:
        raise InputError(f"{target}: cannot create the output folder ({error.strerror})") from error
    try:
        tasks = [(path, temporary / f"{path.stem}.png", sample_seed(FOLDER_DATASET, setting_name, path.stem, seed),
                  setting, max_grey_share, mask_channel) for path in files]
        rows = pd.DataFrame(_parallel_map(_noise_file, tasks, workers, f"noise {setting_name}"))
        stats = rows[STATS_COLUMNS]
        summary = {**_summary(stats, rows["pixels"].to_numpy(), setting_name, setting, "original", seed),
                   "mask_rule": MASK_RULE}
        warn_degenerate(summary, str(source))
        write_csv(temporary / "stats.csv", stats)
        write_json(temporary / "summary.json", summary)
        try:
            os.replace(temporary, target)
        except OSError:
            raise InputError(f"{target}: output folder was filled by another run meanwhile; nothing of this run "
                             "was kept") from None
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return summary
