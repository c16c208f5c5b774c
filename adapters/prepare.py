"""Turn a data set, read by an adapter, into the one prepared form (docs/architecture.md, "Prepared data set").

Every sample is loaded and validated before anything is written; each file is then written atomically. Images are
resized with :func:`adapters.masks.resize_image`, masks with :func:`adapters.masks.resize_mask`. Grey images stay
one channel; a set mixing grey and RGB images has its grey images repeated to RGB. Volumes (a ``(D, H, W)``
working size) are stored the same way with a depth axis: images ``(N, D, H, W, C)`` with C = 1 or 4, masks
``(N, D, H, W)``. Where the layout defines no split, :func:`seeded_split` does (see its docstring).
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from adapters.base import SPLITS, Adapter
from adapters.masks import MASK_RULE, resize_image, resize_mask
from adapters.registry import get_adapter
from common.atomic import atomic_path, write_csv, write_json, write_npz
from common.errors import InputError
from common.progress import with_progress
from common.provenance import provenance

#: Test share of the seeded rule when neither ``n_test`` nor ``test_fraction`` is given (Kvasir-SEG: 300 of 1000).
DEFAULT_TEST_FRACTION = 0.3

#: Fixed member time stamp, so that ``original_masks.npz`` is byte-identical across runs.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

_worker_adapter: Adapter | None = None

#: Image channels allowed by the number of spatial axes: images grey or RGB; volumes grey or 4 (BraTS's MRI
#: sequences). A set mixing grey with more channels has its grey samples repeated to the larger count.
_CHANNELS = {2: (1, 3), 3: (1, 4)}


def split_key(name: str, dataset: str, split_seed: int) -> float:
    """A name's (or group's) place in the seeded split, in [0, 1): the first 8 bytes (big-endian) of
    ``sha256(f"{dataset}/{split_seed}/{name}")`` divided by 2**64. It depends on nothing else, so adding or removing
    another file never changes it."""
    digest = hashlib.sha256(f"{dataset}/{split_seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def seeded_split(names: Sequence[str], dataset: str, split_seed: int, n_test: int | None = None,
                 test_fraction: float | None = None) -> list[str]:
    """Split of each name (in the given order) by the seeded rule, from :func:`split_key` alone.

    ``test_fraction``: a name is test where its key is below the fraction (its split depends only on the seed, the
    data set and its own name; the count is close to, not exactly, the fraction). ``n_test``: the ``n_test`` names
    with the smallest keys are test (exact count; adding a file moves at most the one name at the boundary).
    """
    if (n_test is None) == (test_fraction is None):
        raise ValueError("seeded_split: give exactly one of n_test and test_fraction")
    keys = {name: split_key(name, dataset, split_seed) for name in names}
    if n_test is not None:
        test = set(sorted(keys, key=lambda name: (keys[name], name))[:n_test])
    else:
        test = {name for name, key in keys.items() if key < test_fraction}
    return ["test" if name in test else "train" for name in names]


def _working_size(working_size: int | Sequence[int]) -> tuple[int, ...]:
    """``(H, W)`` from an int or a pair of positive ints; ``(D, H, W)`` from a triple (volumes)."""
    size = tuple(working_size) if isinstance(working_size, list | tuple) else (working_size, working_size)
    if len(size) not in (2, 3) or not all(isinstance(s, int | np.integer) and not isinstance(s, bool) and s > 0
                                          for s in size):
        raise InputError(f"working_size: must be a positive integer, a pair of them (H, W) or a triple (D, H, W) "
                         f"for volumes, got {working_size!r}")
    return tuple(int(s) for s in size)


def _split_counts(units: list[str], noun: str, dataset: str, split_seed: int, n_test: int | None,
                  test_fraction: float | None) -> tuple[list[str], str]:
    """The seeded split of ``units`` and the rule's text; InputError unless both splits get at least one unit."""
    if n_test is not None and test_fraction is not None:
        raise InputError("n_test, test_fraction: give at most one of them")
    key_rule = (f"key(name) = int.from_bytes(sha256(f'{dataset}/{split_seed}/{{name}}'.encode()).digest()[:8], "
                "'big') / 2**64")
    if n_test is None:
        fraction = DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
        if isinstance(fraction, bool) or not (isinstance(fraction, float | int) and 0 < fraction < 1):
            raise InputError(f"test_fraction: must be strictly between 0 and 1, got {fraction!r}")
        splits = seeded_split(units, dataset, split_seed, test_fraction=float(fraction))
        count = splits.count("test")
        if not 1 <= count < len(units):
            raise InputError(f"test_fraction: {fraction} of {len(units)} {noun} gives {count} test {noun} by the "
                             "seeded rule; the test split needs at least one and the training split too (set n_test)")
        return splits, f"seeded: test where {key_rule} < test_fraction={fraction}; the rest train"
    if isinstance(n_test, bool) or not isinstance(n_test, int) or not 1 <= n_test < len(units):
        raise InputError(f"n_test: the test split needs between 1 and {len(units) - 1} of the {len(units)} {noun}, "
                         f"got {n_test!r}")
    splits = seeded_split(units, dataset, split_seed, n_test=n_test)
    return splits, f"seeded: the {n_test} units with the smallest {key_rule} are test, the rest train"


def _splits(adapter: Adapter, names: list[str], groups: list[str] | None, dataset: str, split_seed: int,
            n_test: int | None, test_fraction: float | None) -> tuple[list[str], str]:
    """Each name's split and the rule's text; with ``groups``, the seeded rule splits groups, not samples."""
    layout = adapter.layout_split()
    if layout is not None:
        if n_test is not None or test_fraction is not None:
            raise InputError(f"n_test, test_fraction: adapter {adapter.registry_name!r} takes its split from the "
                             "layout; leave them unset")
        splits = [layout[name] for name in names]
        unknown = sorted(set(splits) - set(SPLITS))
        if unknown:
            raise InputError(f"adapter {adapter.registry_name!r}: unknown split name(s) {', '.join(unknown)}")
        for needed in ("train", "test"):
            if needed not in splits:
                raise InputError(f"{adapter.source()}: the layout's split has no {needed} samples")
        return splits, adapter.layout_split_rule()
    if not isinstance(split_seed, int) or isinstance(split_seed, bool) or split_seed < 0:
        raise InputError(f"split_seed: must be a non-negative integer, got {split_seed!r}")
    units = names if groups is None else sorted(set(groups))
    noun = "samples" if groups is None else "groups"
    unit_splits, rule = _split_counts(units, noun, dataset, split_seed, n_test, test_fraction)
    unit_word = "names" if groups is None else "groups (patients or volumes; every sample goes with its group)"
    rule = f"{rule} (units: {unit_word})"
    unit_split = dict(zip(units, unit_splits, strict=True))
    return [unit_split[unit] for unit in (names if groups is None else groups)], rule


def listed_train_count(dataset: str, adapter: str, path: str | Path | None, options: dict[str, Any] | None = None,
                       split_seed: int = 0, n_test: int | None = None,
                       test_fraction: float | None = None) -> int | None:
    """The number of training samples :func:`prepare_dataset` will write, from the adapter's listing alone (its
    layout's split, else the seeded rule over the names); None where only loading tells
    (:attr:`Adapter.split_from_listing` false) or the listing fails (the preparation job then names the problem)."""
    try:
        reader = get_adapter(adapter, path, **(options or {}))
        if not reader.split_from_listing:
            return None
        splits, _ = _splits(reader, reader.sample_names(), None, dataset, split_seed, n_test, test_fraction)
    except (InputError, OSError):
        return None
    return splits.count("train")


def _set_worker_adapter(adapter: Adapter) -> None:
    """Pool initializer: the adapter every worker loads from."""
    global _worker_adapter
    _worker_adapter = adapter


class PreparedSample(NamedTuple):
    """One sample as :func:`prepare_dataset` stores it: resized image, mask and rater masks (or None), the
    released size, the packed released mask, and the sample's group (or None)."""

    image: np.ndarray
    mask: np.ndarray
    raters: np.ndarray | None
    shape: tuple[int, ...]
    packed_mask: np.ndarray
    group: str | None


def _prepare_sample(name: str, size: tuple[int, ...]) -> PreparedSample:
    """Load ``name`` with the worker's adapter and resize it to ``size`` (a triple for volumes)."""
    assert _worker_adapter is not None
    sample = _worker_adapter.load(name)
    image, mask = sample.image, sample.mask
    allowed_channels = _CHANNELS[len(size)]
    if (image.dtype != np.uint8 or image.ndim != len(size) + 1 or image.shape[-1] not in allowed_channels
            or mask.shape != image.shape[:-1]):
        expected = "(H, W, 1|3) and (H, W)" if len(size) == 2 else "volumes (D, H, W, 1|4) and (D, H, W)"
        raise InputError(f"adapter {_worker_adapter.registry_name!r}: sample {name!r} has image {image.dtype} "
                         f"{image.shape} and mask {mask.shape}; expected uint8 {expected} for working_size "
                         f"{list(size)}")
    raters = None
    if sample.raters is not None:
        if sample.raters.ndim != mask.ndim + 1 or sample.raters.shape[1:] != mask.shape:
            raise InputError(f"adapter {_worker_adapter.registry_name!r}: sample {name!r} has rater masks "
                             f"{sample.raters.shape}; expected (R, {', '.join(map(str, mask.shape))})")
        raters = np.stack([resize_mask(rater, size) for rater in sample.raters])
    resized = resize_mask(mask, size)
    if mask.any() and not resized.any() and not _worker_adapter.allow_empty:
        raise InputError(f"{_worker_adapter.source()}: sample {name!r}: its mask's {int(np.count_nonzero(mask))} "
                         f"foreground pixel(s) at the released size {'x'.join(map(str, mask.shape))} vanish at the "
                         f"working size {'x'.join(map(str, size))}; set option allow_empty: true to accept it as empty")
    return PreparedSample(resize_image(image, size), resized, raters, mask.shape,
                          np.packbits(mask.astype(bool), axis=None), sample.group)


def _load_all(reader: Adapter, names: list[str], size: tuple[int, ...], workers: int) -> Iterator[PreparedSample]:
    """:func:`_prepare_sample` for every name in order, in a process pool when ``workers`` > 1."""
    load = partial(_prepare_sample, size=size)
    if workers == 1 or len(names) == 1:
        _set_worker_adapter(reader)
        yield from map(load, names)
        return
    processes = min(workers, len(names))
    with ProcessPoolExecutor(processes, initializer=_set_worker_adapter, initargs=(reader,)) as pool:
        try:
            yield from pool.map(load, names, chunksize=max(1, len(names) // (processes * 8)))
        except BrokenProcessPool:
            raise InputError(f"{reader.source()}: a worker process died while reading the data set (a crash in a "
                             "file decoder, or out of memory); rerun with workers: 1 to see the file") from None


def _stack_raters(reader: Adapter, names: list[str], rater_masks: list[np.ndarray | None]) -> np.ndarray | None:
    """``(N, R, H, W)`` uint8 rater masks, or None for a single-rater set; every sample needs the same R."""
    counts = {None if raters is None else len(raters) for raters in rater_masks}
    if counts == {None}:
        return None
    if len(counts) > 1:
        first_count = None if rater_masks[0] is None else len(rater_masks[0])
        first = next(name for name, raters in zip(names, rater_masks, strict=True)
                     if (None if raters is None else len(raters)) != first_count)
        raise InputError(f"adapter {reader.registry_name!r}: samples differ in their number of raters "
                         f"({', '.join(sorted(str(count) for count in counts))}); first differing sample {first!r}")
    return np.stack(rater_masks).astype(np.uint8)


def _write_masks_npz(path: Path, names: list[str], shapes: list[tuple[int, ...]], packed: list[np.ndarray]) -> None:
    """Write one bool array per name to a compressed ``.npz``, unpacking one mask at a time (bounded memory)."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for name, shape, bits in zip(names, shapes, packed, strict=True):
            mask = np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).astype(bool)
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(member, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, mask, allow_pickle=False)


def prepare_dataset(dataset: str, adapter: str, path: str | Path | None, out_dir: str | Path,
                    working_size: int | tuple[int, ...], options: dict[str, Any] | None = None, split_seed: int = 0,
                    n_test: int | None = None, test_fraction: float | None = None, workers: int = 1) -> dict[str, Any]:
    """Prepare ``dataset`` read by ``adapter`` from ``path`` into ``out_dir``; returns the metadata written.

    Writes ``data.npz``, ``original_masks.npz``, ``split.csv`` and ``metadata.json`` (docs/architecture.md). The
    split comes from the layout where it has one, else from :func:`seeded_split` with ``n_test`` or
    ``round(test_fraction * N)`` test samples (default fraction :data:`DEFAULT_TEST_FRACTION`). ``workers`` > 1
    loads samples in a process pool; the result is identical to ``workers`` = 1. Bad input is an InputError and
    nothing is written.
    """
    if not isinstance(dataset, str) or not dataset:
        raise InputError(f"dataset: must be a non-empty name, got {dataset!r}")
    size = _working_size(working_size)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers: must be a positive integer, got {workers!r}")
    if options is not None and not isinstance(options, dict):
        raise InputError(f"options: must be a mapping of adapter options, got {options!r}")
    reader = get_adapter(adapter, path, **(options or {}))
    names = reader.sample_names()
    if not names:
        raise InputError(f"{reader.source()}: no samples found")
    if names != sorted(set(names)):
        raise InputError(f"adapter {reader.registry_name!r}: sample names must be sorted and unique")
    images = np.empty((len(names), *size, max(_CHANNELS[len(size)])), dtype=np.uint8)
    masks = np.empty((len(names), *size), dtype=np.uint8)
    rater_masks: list[np.ndarray | None] = []
    groups: list[str | None] = []
    shapes: list[tuple[int, ...]] = []
    packed: list[np.ndarray] = []
    channel_counts: set[int] = set()
    loaded = with_progress(_load_all(reader, names, size, workers), len(names), f"preparing {dataset}")
    for index, sample in enumerate(loaded):
        images[index] = sample.image
        masks[index] = sample.mask
        rater_masks.append(sample.raters)
        groups.append(sample.group)
        shapes.append(sample.shape)
        packed.append(sample.packed_mask)
        channel_counts.add(sample.image.shape[-1])
    channels = max(channel_counts)
    if channels == 1:
        images = np.ascontiguousarray(images[..., :1])
    raters = _stack_raters(reader, names, rater_masks)
    group_names = None if all(group is None for group in groups) else [
        name if group is None else group for name, group in zip(names, groups, strict=True)]
    splits, split_rule = _splits(reader, names, group_names, dataset, split_seed, n_test, test_fraction)

    out = Path(out_dir)
    arrays = {"images": images, "masks": masks, "names": np.array(names, dtype=str)}
    if raters is not None:
        arrays["rater_masks"] = raters
    write_npz(out / "data.npz", **arrays)
    _write_masks_npz(out / "original_masks.npz", names, shapes, packed)
    split_columns = {"name": names, "split": splits}
    if group_names is not None:
        split_columns["group"] = group_names
    write_csv(out / "split.csv", pd.DataFrame(split_columns))
    metadata: dict[str, Any] = {
        "dataset": dataset,
        "adapter": reader.registry_name,
        "options": reader.options,
        "source": reader.source(),
        "synthetic": reader.synthetic,
        "working_size": list(size),
        "channels": channels,
        "n_train": splits.count("train"),
        "n_val": splits.count("val"),
        "n_test": splits.count("test"),
        "split_seed": split_seed,
        "split_rule": split_rule,
        "mask_rule": MASK_RULE,
        "n_raters": 0 if raters is None else int(raters.shape[1]),
        "n_groups": len(set(group_names)) if group_names is not None else len(names),
        "evaluation_unit": reader.evaluation_unit,
        "original_sizes": {name: [int(side) for side in shape] for name, shape in zip(names, shapes, strict=True)},
    }
    metadata["provenance"] = provenance()
    write_json(out / "metadata.json", metadata)
    return metadata


def check_names(names: np.ndarray, expected: np.ndarray, path: Path, reference: Path) -> None:
    """InputError naming both files unless ``names`` equals ``expected`` (same order)."""
    if len(names) != len(expected):
        raise InputError(f"{path}: {len(names)} names, but {reference} has {len(expected)}")
    differ = np.flatnonzero(np.asarray(names, dtype=str) != np.asarray(expected, dtype=str))
    if len(differ):
        first = differ[0]
        raise InputError(f"{path}: names do not match {reference} (first difference at position {first}: "
                         f"{str(names[first])!r} vs {str(expected[first])!r})")


def read_split(prepared_dir: str | Path, names: np.ndarray) -> np.ndarray:
    """The split of each sample (``train``, ``val`` or ``test``) from a prepared ``split.csv``.

    ``names`` are ``data.npz``'s names: ``split.csv`` must list exactly them, in order. Any problem is one
    InputError naming the file.
    """
    split_path = Path(prepared_dir) / "split.csv"
    if not split_path.is_file():
        raise InputError(f"{split_path}: file not found")
    split = pd.read_csv(split_path, dtype=str, keep_default_na=False)
    if not {"name", "split"} <= set(split.columns):
        raise InputError(f"{split_path}: expected columns name,split, got {','.join(map(str, split.columns))}")
    check_names(split["name"].to_numpy(dtype=str), names, split_path, Path(prepared_dir) / "data.npz")
    splits = split["split"].to_numpy(dtype=str)
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise InputError(f"{split_path}: unknown split value(s) {', '.join(unknown)} "
                         f"(expected one of {', '.join(SPLITS)})")
    return splits


def read_groups(prepared_dir: str | Path, names: np.ndarray) -> np.ndarray:
    """The group (patient or volume) of each sample from ``split.csv``'s ``group`` column; each sample is its own
    group where the column is absent. The names are checked as in :func:`read_split`."""
    read_split(prepared_dir, names)
    split = pd.read_csv(Path(prepared_dir) / "split.csv", dtype=str, keep_default_na=False)
    return split["group"].to_numpy(dtype=str) if "group" in split.columns else np.asarray(names, dtype=str)
