"""MMIS-2024 (NPC, four raters) in the D-Persona preprocessed HDF5 layout that the GSD-Net authors read.

Layout (confirmed from D-Persona ``code/dataloader/dataset.py`` and GSD-Net ``dataloaders/dataset_npc.py``,
``GSD_Net_MMIS2024_each_select1.py``)::

    training_2d/*.h5   one 2-D slice per file: datasets t1, t1c, t2 (H, W) and label_a1 .. label_a4 (H, W)
    validation/*.h5    one volume per file: t1, t1c, t2 (D, H, W) and label_a1 .. label_a4 (D, H, W)
    testing/*.h5       the same form as validation/

Both readers stack ``[h5[m][:] for m in ("t1", "t1c", "t2")]`` as the channels, read the raters as
``label_a1`` .. ``label_a4`` and slice a volume along its first axis. Both train on ``training_2d`` and score
the ``validation`` folder, whose 20 volumes are the paper's "100/20" test volumes, so the test folder is option
``test_folder`` (default "validation"; "testing" for that folder). Intensities are floats (the readers add
Gaussian noise of sigma 0.1 to them, without rescaling); their exact dtype and range are not documented
(unconfirmed) and any finite real values are accepted. Labels must be binary, 0/1 or 0/255
(:func:`adapters.masks.binary_labels`; 0.5 or {0, 2} are refused).

Samples: one per training file, named by its stem, and one per slice of each test volume, named
``{volume}_slice-{k:03d}`` (zero-padded, so name order is slice order; wider for volumes of over 1000 slices),
volume = the file stem. Group: the volume, so the volume-wise evaluation (``evaluation_unit = "group"``) rebuilds
each test volume from its slices in name order; a training file's volume is parsed from a stem of the form
``{volume}_slice_{k}`` (also ``-slice-``, ``_slice-``; the file naming of D-Persona's co-authors' SSL4MIS
preprocessing; unconfirmed for MMIS), else the stem itself.

Image: the sequences of option ``sequences`` (default t1, t1c, t2: an RGB-like uint8 image; one sequence gives a
grey image; the prepared form takes 1 or 3 channels, so 1 or 3 names) stacked as channels. Each channel is
clipped to its 0.5th..99.5th percentile over the whole volume and mapped linearly to 0..255
(:func:`adapters.multi_rater.to_uint8`): for a test volume, over all its slices; for training slices, over all
training slices of the same volume (a training file whose volume cannot be parsed: over that slice). A constant
channel becomes 0. The split is the layout's (training_2d: train, test folder: test). Many slices of a volume show
no tumour, so ``allow_empty`` defaults to true (false: a slice whose consensus is empty is an error).
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import h5py
import numpy as np

from adapters.base import Adapter, Sample
from adapters.masks import binary_labels
from adapters.multi_rater import finite_intensities, intensity_window, rater_sample, to_uint8
from adapters.registry import register_adapter
from common.errors import InputError

#: Rater datasets, in rater order.
MMIS_RATERS = ("label_a1", "label_a2", "label_a3", "label_a4")

#: Sequences the readers stack as channels, in their order.
MMIS_SEQUENCES = ("t1", "t1c", "t2")

#: The folder of 2-D training slices.
TRAIN_FOLDER = "training_2d"

#: A training file stem that names its volume and slice.
_SLICE_STEM = re.compile(r"^(?P<volume>.+?)[_-]slice[_-]?\d+$", re.IGNORECASE)


class MmisEntry(NamedTuple):
    """Where one sample is: its file, its slice index in a test volume (None: a 2-D training file), split, group."""

    file: Path
    slice_index: int | None
    split: str
    group: str


def h5_files(folder: Path) -> list[Path]:
    """The ``*.h5`` files directly in ``folder``, sorted; a missing folder is an InputError naming it."""
    if not folder.is_dir():
        raise InputError(f"{folder}: folder not found")
    return sorted(path for path in folder.iterdir()
                  if path.suffix.lower() == ".h5" and path.is_file() and not path.name.startswith("."))


def open_h5(path: Path) -> h5py.File:
    """``path`` opened read-only; an unreadable file is an InputError naming it."""
    try:
        return h5py.File(path, "r")
    except Exception as error:
        raise InputError(f"{path}: cannot read HDF5 file ({type(error).__name__}: {error})") from None


def h5_dataset(handle: h5py.File, key: str, ndim: int) -> h5py.Dataset:
    """The dataset ``key`` of an open file, checked to be ``ndim``-D and real-valued (InputError naming both)."""
    if key not in handle or not isinstance(handle[key], h5py.Dataset):
        raise InputError(f"{handle.filename}: dataset {key!r} not found (has {', '.join(sorted(handle.keys()))})")
    data = handle[key]
    if data.ndim != ndim or data.dtype.kind not in "biuf":
        raise InputError(f"{handle.filename}: dataset {key!r} is {data.dtype} {data.shape}; expected a real "
                         f"{ndim}-D array ({'a 2-D slice' if ndim == 2 else 'a volume (D, H, W)'})")
    return data


@register_adapter("mmis")
class MmisAdapter(Adapter):
    """The MMIS-2024 D-Persona HDF5 layout (module docstring); options ``test_folder`` ("validation"),
    ``sequences`` (t1, t1c, t2), ``allow_empty`` (true)."""

    extra_options: ClassVar[dict[str, Any]] = {"allow_empty": True, "test_folder": "validation",
                                               "sequences": list(MMIS_SEQUENCES)}
    evaluation_unit: ClassVar[str] = "group"

    def __init__(self, path: str | Path | None = None, **options: Any) -> None:
        super().__init__(path, **options)
        self.test_folder = self.option("test_folder", str)
        if self.test_folder in ("", TRAIN_FOLDER) or "/" in self.test_folder:
            raise InputError(f"adapter 'mmis': option 'test_folder' must name the folder of test volumes, "
                             f"got {self.test_folder!r}")
        sequences = self.option("sequences", list)
        if len(sequences) not in (1, 3) or len(set(sequences)) != len(sequences) or not all(
                isinstance(sequence, str) for sequence in sequences):
            raise InputError(f"adapter 'mmis': option 'sequences' must list 1 or 3 different dataset names, "
                             f"got {sequences!r}")
        self.sequences: tuple[str, ...] = tuple(sequences)
        self._windows: dict[tuple[str, str], list[tuple[float, float]]] = {}

    @cached_property
    def _index(self) -> dict[str, MmisEntry]:
        """``{name: MmisEntry}`` for every training slice and every slice of every test volume."""
        index: dict[str, MmisEntry] = {}
        for path in h5_files(self.root / TRAIN_FOLDER):
            match = _SLICE_STEM.match(path.stem)
            index[path.stem] = MmisEntry(path, None, "train", match["volume"] if match else path.stem)
        test_files = h5_files(self.root / self.test_folder)
        for path in test_files:
            depth = self._volume_depth(path)
            width = max(3, len(str(depth - 1)))
            for k in range(depth):
                name = f"{path.stem}_slice-{k:0{width}d}"
                if name in index:
                    raise InputError(f"{path}: sample name {name!r} also occurs as {index[name].file}")
                index[name] = MmisEntry(path, k, "test", path.stem)
        if not any(entry.split == "train" for entry in index.values()):
            raise InputError(f"{self.root / TRAIN_FOLDER}: no .h5 training slices found")
        if not test_files:
            raise InputError(f"{self.root / self.test_folder}: no .h5 test volumes found")
        return dict(sorted(index.items()))

    def _volume_depth(self, path: Path) -> int:
        """The number of slices of a test volume; its sequences and raters must be 3-D of one shape."""
        with open_h5(path) as handle:
            shapes = {key: h5_dataset(handle, key, 3).shape for key in (*self.sequences, *MMIS_RATERS)}
        if len(set(shapes.values())) != 1:
            raise InputError(f"{path}: datasets differ in shape: "
                             f"{', '.join(f'{key} {shape}' for key, shape in shapes.items())}")
        depth = next(iter(shapes.values()))[0]
        if depth == 0:
            raise InputError(f"{path}: volume has no slices")
        return depth

    def sample_names(self) -> list[str]:
        """Sorted names: training file stems and ``{volume}_slice-{k:03d}`` for the test volumes."""
        return list(self._index)

    def layout_split(self) -> dict[str, str]:
        """``training_2d``: train, the test folder: test."""
        return {name: entry.split for name, entry in self._index.items()}

    def layout_split_rule(self) -> str:
        """The split's source, for ``metadata.json``."""
        return f"layout: {TRAIN_FOLDER}/*.h5 are train, the slices of {self.test_folder}/*.h5 volumes test"

    def _volume_windows(self, entry: MmisEntry) -> list[tuple[float, float]]:
        """Per-sequence intensity windows over the whole volume of ``entry`` (cached per volume)."""
        key = (entry.split, entry.group)
        if key not in self._windows:
            if entry.slice_index is not None:
                files = [entry.file]
            else:
                files = [other.file for other in self._index.values()
                         if other.split == "train" and other.group == entry.group]
            windows = []
            for sequence in self.sequences:
                values = []
                for path in files:  # each file checked on its own, so an error names the file that holds NaN
                    with open_h5(path) as handle:
                        value = h5_dataset(handle, sequence, 3 if entry.slice_index is not None else 2)[()]
                    values.append(np.ravel(finite_intensities(value, f"{path}: dataset {sequence!r}")))
                windows.append(intensity_window(np.concatenate(values), f"{files[0]}: dataset {sequence!r}"))
            self._windows[key] = windows
        return self._windows[key]

    def load(self, name: str) -> Sample:
        """The slice ``name``: sequences as channels (uint8 by the volume's windows), four raters, consensus."""
        if name not in self._index:
            raise InputError(f"adapter 'mmis': no sample named {name!r} in {self.root}")
        entry = self._index[name]
        ndim = 2 if entry.slice_index is None else 3
        where = "" if entry.slice_index is None else f"[{entry.slice_index}]"
        with open_h5(entry.file) as handle:
            channels = [h5_dataset(handle, sequence, ndim) for sequence in self.sequences]
            labels = [h5_dataset(handle, rater, ndim) for rater in MMIS_RATERS]
            position = () if entry.slice_index is None else entry.slice_index
            planes = [np.asarray(data[position]) for data in channels]
            rater_values = [np.asarray(data[position]) for data in labels]
        shapes = {plane.shape for plane in planes}
        if len(shapes) != 1:
            raise InputError(f"{entry.file}: sequences {', '.join(self.sequences)} differ in shape "
                             f"({', '.join(str(plane.shape) for plane in planes)})")
        windows = self._volume_windows(entry)
        image = np.stack([to_uint8(plane, window) for plane, window in zip(planes, windows, strict=True)], axis=-1)
        sources = [f"{entry.file}: dataset {rater!r}{where}" for rater in MMIS_RATERS]
        raters = [binary_labels(values, source) for values, source in zip(rater_values, sources, strict=True)]
        return rater_sample(name, image, raters, sources, entry.split, entry.group, self.allow_empty)
