"""The adapter interface: a data set as users have it, seen as named samples (image, binary mask, split)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np

from adapters.masks import DEFAULT_MAX_GREY_SHARE, check_grey_share
from adapters.reading import IMAGE_SUFFIXES, image_files, read_image, read_mask
from common.errors import InputError

#: Split names a layout may define.
SPLITS = ("train", "val", "test")

#: Options every adapter accepts, with their defaults: ``allow_empty`` (accept empty masks, and masks whose
#: foreground vanishes at the working size), ``max_grey_share`` and ``mask_channel`` (:func:`read_mask`).
COMMON_OPTIONS: dict[str, Any] = {"allow_empty": False, "max_grey_share": DEFAULT_MAX_GREY_SHARE,
                                  "mask_channel": None}

#: How many offending names an error message lists.
_NAMES_SHOWN = 5


@dataclass(frozen=True)
class Sample:
    """One sample at its released size.

    image: uint8 ``(H, W, C)``, C = 1 (grey) or 3 (RGB). mask: bool ``(H, W)``.
    split: the split the layout itself puts it in (one of :data:`SPLITS`), or None where the layout has none.
    raters: multi-rater sets only, bool ``(R, H, W)``, one mask per rater in the layout's rater order; ``mask`` is
    then their consensus (:func:`adapters.masks.consensus_mask`).
    group: the patient or volume the sample belongs to (None: its own group). Seeded splits keep a group together;
    volume-wise evaluation rebuilds a group from its slices (in name order).
    """

    name: str
    image: np.ndarray
    mask: np.ndarray
    split: str | None = None
    raters: np.ndarray | None = None
    group: str | None = None


def list_names(names: list[str]) -> str:
    """Up to five names, comma separated, with how many more were left off."""
    shown = ", ".join(names[:_NAMES_SHOWN])
    return shown + (f" and {len(names) - _NAMES_SHOWN} more" if len(names) > _NAMES_SHOWN else "")


def files_without_counterpart(files: dict[str, Path], counterparts: dict[str, Path]) -> list[str]:
    """Sorted file names of ``files`` (by stem) whose stem is not among ``counterparts``' stems."""
    return sorted(files[stem].name for stem in files.keys() - counterparts.keys())


class Adapter:
    """Base of every data-set adapter, registered by name with :func:`adapters.registry.register_adapter`.

    Constructed with the data set's folder (None for generated sets) and keyword options; an unknown option is an
    InputError naming it and the adapter. Subclasses declare ``extra_options`` (name -> default) and implement
    :meth:`sample_names` and :meth:`load`; a layout that defines its own split overrides :meth:`layout_split`.
    """

    registry_name: ClassVar[str] = ""
    extra_options: ClassVar[dict[str, Any]] = {}
    #: "image": the test split is scored per sample; "group": per group (a volume rebuilt from its slices).
    evaluation_unit: ClassVar[str] = "image"
    needs_path: ClassVar[bool] = True
    synthetic: ClassVar[bool] = False
    #: Whether :meth:`sample_names` is a cheap listing that fixes the split before any sample is loaded (False:
    #: the samples carry groups, known only once loaded, or the listing reads the data itself).
    split_from_listing: ClassVar[bool] = True

    def __init__(self, path: str | Path | None = None, **options: Any) -> None:
        known = {**COMMON_OPTIONS, **self.extra_options}
        for key in options:
            if key not in known:
                raise InputError(f"adapter {self.registry_name!r}: unknown option {key!r}; "
                                 f"known options: {', '.join(sorted(known))}")
        self.options: dict[str, Any] = {**known, **options}
        self.path = self._checked_path(path)
        self.allow_empty = self.option("allow_empty", bool)
        self.max_grey_share = check_grey_share(self.options["max_grey_share"],
                                               f"adapter {self.registry_name!r}: option 'max_grey_share'")
        channel = self.options["mask_channel"]
        if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int) or channel < 0):
            raise InputError(f"adapter {self.registry_name!r}: option 'mask_channel' must be a channel index "
                             f"(0, 1, ...) or null, got {channel!r}")
        self.mask_channel: int | None = channel

    def _checked_path(self, path: str | Path | None) -> Path | None:
        """The data set's folder, checked to exist (None for adapters that take no path)."""
        if not self.needs_path:
            if path is not None:
                raise InputError(f"adapter {self.registry_name!r} generates its data and takes no path, got {path}")
            return None
        if path is None:
            raise InputError(f"adapter {self.registry_name!r} needs the data set's folder as path")
        folder = Path(path)
        if not folder.is_dir():
            raise InputError(f"{folder}: data set folder not found")
        return folder

    def option(self, key: str, kind: type) -> Any:
        """The option ``key``, checked to be of type ``kind`` (an InputError naming the key otherwise)."""
        value = self.options[key]
        valid = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not valid:
            raise InputError(f"adapter {self.registry_name!r}: option {key!r} must be {kind.__name__}, "
                             f"got {value!r}")
        return value

    def read_mask(self, path: Path) -> np.ndarray:
        """The mask file ``path`` read by :func:`adapters.reading.read_mask` with this adapter's options."""
        return read_mask(path, self.max_grey_share, self.mask_channel)

    @property
    def root(self) -> Path:
        """The data set's folder (for adapters that need a path, which the constructor checked)."""
        assert self.path is not None
        return self.path

    def source(self) -> str:
        """Where the data came from: the resolved folder, or "generated"."""
        return "generated" if self.path is None else str(self.path.resolve())

    def sample_names(self) -> list[str]:
        """Sorted, unique sample names."""
        raise NotImplementedError

    def load(self, name: str) -> Sample:
        """The sample ``name`` at its released size, validated (readable, binary, sizes agreeing)."""
        raise NotImplementedError

    def layout_split(self) -> dict[str, str] | None:
        """``{name: split}`` where the layout defines the split, else None (the seeded rule then applies)."""
        return None

    def layout_split_rule(self) -> str:
        """How the layout defines the split, for ``metadata.json``."""
        return f"layout: the split is given by the {self.registry_name} layout's folders"


class FolderPair(NamedTuple):
    """A folder of images and the folder of their masks, with the split the layout gives them (or None)."""

    images: Path
    masks: Path
    split: str | None


class PairedFilesAdapter(Adapter):
    """An adapter for images and masks in folder pairs, matched by file stem.

    Subclasses implement :meth:`folder_pairs`; ``mask_suffix`` (e.g. "_mask") is stripped from mask stems. Where
    a pair's image and mask folders are the same folder, files whose stem ends with the suffix are its masks.
    """

    mask_suffix: str = ""

    def folder_pairs(self) -> list[FolderPair]:
        """The layout's (images, masks, split) folder pairs."""
        raise NotImplementedError

    @cached_property
    def _index(self) -> dict[str, tuple[Path, Path, str | None]]:
        """``{name: (image file, mask file, split)}`` for every sample, checked for unmatched files."""
        index: dict[str, tuple[Path, Path, str | None]] = {}
        for pair in self.folder_pairs():
            for name, files in self._matched_files(pair).items():
                if name in index:
                    raise InputError(f"{files[0]}: sample name {name!r} also occurs as {index[name][0]}")
                index[name] = (*files, pair.split)
        if not index:
            folders = ", ".join(str(pair.images) for pair in self.folder_pairs())
            raise InputError(f"{folders}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})")
        return dict(sorted(index.items()))

    def _matched_files(self, pair: FolderPair) -> dict[str, tuple[Path, Path]]:
        """``{name: (image file, mask file)}`` for one folder pair; unmatched files are an InputError."""
        for folder in (pair.images, pair.masks):
            if not folder.is_dir():
                raise InputError(f"{folder}: folder not found")
        suffix = self.mask_suffix
        if pair.images == pair.masks:
            files = image_files(pair.images)
            masks = {stem[: len(stem) - len(suffix)]: path for stem, path in files.items() if stem.endswith(suffix)}
            images = {stem: path for stem, path in files.items() if not stem.endswith(suffix)}
        else:
            images = image_files(pair.images)
            mask_files = image_files(pair.masks)
            unsuffixed = sorted(path.name for stem, path in mask_files.items() if not stem.endswith(suffix))
            if unsuffixed:
                raise InputError(f"{pair.masks}: {len(unsuffixed)} mask file(s) lack the mask_suffix {suffix!r}: "
                                 f"{list_names(unsuffixed)}")
            masks = {stem[: len(stem) - len(suffix)]: path for stem, path in mask_files.items()}
        without_mask = files_without_counterpart(images, masks)
        if without_mask:
            raise InputError(f"{pair.images}: {len(without_mask)} image(s) without a mask in {pair.masks}: "
                             f"{list_names(without_mask)}")
        without_image = files_without_counterpart(masks, images)
        if without_image:
            raise InputError(f"{pair.masks}: {len(without_image)} mask(s) without an image in {pair.images}: "
                             f"{list_names(without_image)}")
        return {stem: (images[stem], masks[stem]) for stem in images}

    def sample_names(self) -> list[str]:
        """Sorted sample names (file stems)."""
        return list(self._index)

    def load(self, name: str) -> Sample:
        """Read the image and mask of ``name``; size mismatch or an empty mask is an InputError naming the file."""
        if name not in self._index:
            raise InputError(f"adapter {self.registry_name!r}: no sample named {name!r} in {self.path}")
        image_path, mask_path, split = self._index[name]
        image = read_image(image_path)
        mask = self.read_mask(mask_path)
        if image.shape[:2] != mask.shape:
            raise InputError(f"{mask_path}: mask size {mask.shape[0]}x{mask.shape[1]} (HxW) differs from the size "
                             f"{image.shape[0]}x{image.shape[1]} of its image {image_path.name}")
        if not self.allow_empty and not mask.any():
            raise InputError(f"{mask_path}: mask is empty (all background); set option allow_empty: true to accept")
        return Sample(name=name, image=image, mask=mask, split=split)

    def layout_split(self) -> dict[str, str] | None:
        """``{name: split}`` where the folder pairs carry splits, else None."""
        if all(pair.split is None for pair in self.folder_pairs()):
            return None
        return {name: split for name, (_, _, split) in self._index.items() if split is not None}
