"""LIDC-IDRI in the pickled form the GSD-Net and D-Persona authors read: ``lidc_attributes.pkl`` + index files.

Layout (one folder, as in GSD-Net's ``GSD_Net_lidc_each_select1.py``, which reads ``./data/lidc/``)::

    lidc_attributes.pkl   dict {key: {"image": ..., "masks": [...], "series_uid": ..., ...}}
    train_idx.npy         1-D array of keys (object or unicode strings): the training samples
    test_idx.npy          1-D array of keys: the test samples

Fields read, as confirmed from the readers' sources (GSD-Net ``GSD_Net_lidc_each_select1.py``: ``data[name]
['image']``, ``data[name]['masks'][0..3]``, keys from ``np.load(train_idx.npy / test_idx.npy, allow_pickle=True)
.tolist()``; D-Persona ``dataloader/data_loader.py`` and MedicalMatting ``dataloader/data_loader.py``, whose
pickle this is: "image 0-255, mask [0,1]", ``series_uid`` per entry, patients = ``series_uid.split('_')[0]``):

- ``image``: 2-D ``(H, W)`` grey crop (``(H, W, 1)`` and ``(H, W, 3)`` are accepted too), 128x128 in the
  GSD-Net setting. The value range is documented as 0-255; the dtype is not (unconfirmed). Kept as uint8:
  integer images must lie in 0..255; float images in [0, 1] (the Probabilistic U-Net pickle's range) are scaled
  by 255, float images in [0, 255] are taken as they are; both are rounded. Anything else is an InputError.
- ``masks``: a sequence of ``n_raters`` (option, default 4) 2-D masks of the image's size, values in {0, 1}
  (0/255 accepted), anything else refused (:func:`adapters.masks.binary_labels`); in rater order.
- ``series_uid`` (optional): group = its part before the first ``_`` (the readers' patient id); without it, the
  sample is its own group.

Sample names are the keys (sorted). The split is the index files' (a key in both, in neither file's pickle, or
not a string, is an InputError naming the index file); pickle keys in neither file are left out, as the readers
do. Empty rater masks are normal in LIDC, so ``allow_empty`` defaults to true (false: an empty consensus is an
error). Pickles can run code when loaded: the files are read with an unpickler that accepts only NumPy arrays,
dtypes and scalars (and ``collections.OrderedDict``); anything else is an InputError naming the file.
"""

from __future__ import annotations

import pickle
from collections import Counter
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from adapters.base import Adapter, Sample, list_names
from adapters.masks import binary_labels
from adapters.multi_rater import rater_sample
from adapters.registry import register_adapter
from common.errors import InputError

#: File names of the layout.
PICKLE_FILE = "lidc_attributes.pkl"
INDEX_FILES = {"train": "train_idx.npy", "test": "test_idx.npy"}

#: The only globals the restricted unpickler resolves (module, name); ``numpy.core`` is read as ``numpy._core``.
_ALLOWED_GLOBALS = frozenset({
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
})


def _latin1_bytes(text: Any, encoding: str = "utf-8") -> bytes:
    """Stand-in for ``_codecs.encode``, which protocol-2 pickles written by Python 3 use to store bytes (as
    ``encode(text, "latin1")``); any other argument is refused."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode({type(text).__name__}, {encoding!r}) (only latin1 "
                                     "bytes are read)")
    return text.encode("latin1")


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`_ALLOWED_GLOBALS` (NumPy arrays, dtypes, scalars) and the latin1 form
    of ``_codecs.encode`` (:func:`_latin1_bytes`)."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "numpy.core" or module.startswith("numpy.core."):
            module = "numpy._core" + module[len("numpy.core"):]
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only NumPy arrays are read)")
        return super().find_class(module, name)


def load_restricted_pickle(path: Path) -> Any:
    """Unpickle ``path`` with :class:`_ArrayUnpickler` (Python 2 strings read as latin-1); InputError naming it."""
    try:
        with path.open("rb") as handle:
            return _ArrayUnpickler(handle, encoding="latin1").load()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except Exception as error:
        raise InputError(f"{path}: cannot read pickle ({type(error).__name__}: {error})") from None


def load_index(path: Path) -> list[str]:
    """The keys in an index ``.npy`` (unicode or object array of strings), read without executing code."""
    try:
        with path.open("rb") as handle:
            major, _ = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(handle)
            if dtype.hasobject:
                values = np.asarray(_ArrayUnpickler(handle, encoding="latin1").load())
            else:
                handle.seek(0)
                values = np.load(handle, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except Exception as error:
        raise InputError(f"{path}: cannot read index file ({type(error).__name__}: {error})") from None
    if values.ndim != 1 or values.shape != tuple(shape):
        raise InputError(f"{path}: expected a 1-D array of sample keys, got shape {values.shape}")
    keys = values.tolist()
    not_strings = [repr(key) for key in keys if not isinstance(key, str)]
    if not_strings:
        raise InputError(f"{path}: {len(not_strings)} key(s) are not strings: {list_names(not_strings)}")
    return keys


def image_to_uint8(values: Any, source: str) -> np.ndarray:
    """The pickle's ``image`` as uint8 ``(H, W, C)``, C = 1 or 3, by the module docstring's rule."""
    array = np.asarray(values)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3) or array.size == 0:
        raise InputError(f"{source}: expected a 2-D grey (or (H, W, 1|3)) image, got shape {np.asarray(values).shape}")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype.kind in "iu":
        if array.min() < 0 or array.max() > 255:
            raise InputError(f"{source}: integer image values must lie in 0..255, got {array.min()}..{array.max()}")
        return array.astype(np.uint8)
    if array.dtype.kind != "f" or not np.isfinite(array).all():
        raise InputError(f"{source}: image must hold finite numbers, got dtype {array.dtype}")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 255:
        raise InputError(f"{source}: float image values must lie in [0, 1] or [0, 255], got {low:g}..{high:g}")
    scale = 255.0 if high <= 1.0 else 1.0
    return np.rint(array.astype(np.float64) * scale).astype(np.uint8)


@register_adapter("lidc_pickle")
class LidcPickleAdapter(Adapter):
    """``lidc_attributes.pkl`` + ``train_idx.npy`` / ``test_idx.npy`` (module docstring); options ``n_raters`` (4),
    ``allow_empty`` (true)."""

    extra_options: ClassVar[dict[str, Any]] = {"allow_empty": True, "n_raters": 4}
    #: Its listing unpickles the whole data set.
    split_from_listing: ClassVar[bool] = False

    def __init__(self, path: str | Path | None = None, **options: Any) -> None:
        super().__init__(path, **options)
        self.n_raters = self.option("n_raters", int)
        if self.n_raters < 1:
            raise InputError(f"adapter 'lidc_pickle': option 'n_raters' must be at least 1, got {self.n_raters}")

    @property
    def pickle_path(self) -> Path:
        """The pickle file."""
        assert self.path is not None
        return self.path / PICKLE_FILE

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for worker processes without the loaded data (each worker reads the file itself)."""
        state = self.__dict__.copy()
        state.pop("_entries", None)
        return state

    @cached_property
    def _entries(self) -> dict[Any, Any]:
        """The unpickled ``{key: entry}`` dict."""
        data = load_restricted_pickle(self.pickle_path)
        if not isinstance(data, dict):
            raise InputError(f"{self.pickle_path}: expected a dict of samples, got {type(data).__name__}")
        return data

    @cached_property
    def _split(self) -> dict[str, str]:
        """``{key: split}`` from the index files, checked against each other and the pickle's keys."""
        assert self.path is not None
        split: dict[str, str] = {}
        for part, file_name in INDEX_FILES.items():
            index_path = self.path / file_name
            keys = load_index(index_path)
            counts = Counter(keys)
            repeated = sorted(key for key, count in counts.items() if count > 1 or key in split)
            if repeated:
                raise InputError(f"{index_path}: {len(repeated)} key(s) listed twice or also in another index "
                                 f"file: {list_names(repeated)}")
            absent = sorted(key for key in keys if key not in self._entries)
            if absent:
                raise InputError(f"{index_path}: {len(absent)} key(s) not in {self.pickle_path.name}: "
                                 f"{list_names(absent)}")
            split.update(dict.fromkeys(keys, part))
        if not split:
            raise InputError(f"{self.path}: the index files list no samples")
        return dict(sorted(split.items()))

    def sample_names(self) -> list[str]:
        """The keys of both index files, sorted."""
        return list(self._split)

    def layout_split(self) -> dict[str, str]:
        """``{key: "train" | "test"}`` from ``train_idx.npy`` / ``test_idx.npy``."""
        return dict(self._split)

    def layout_split_rule(self) -> str:
        """The split's source, for ``metadata.json``."""
        return f"layout: keys listed in {INDEX_FILES['train']} are train, in {INDEX_FILES['test']} test"

    def load(self, name: str) -> Sample:
        """The entry ``name``: image, ``n_raters`` masks, their consensus, group from ``series_uid``."""
        if name not in self._split:
            raise InputError(f"adapter 'lidc_pickle': no sample named {name!r} in {self.path}")
        source = f"{self.pickle_path}[{name!r}]"
        entry = self._entries[name]
        if not isinstance(entry, dict) or "image" not in entry or "masks" not in entry:
            raise InputError(f"{source}: expected a dict with 'image' and 'masks'")
        image = image_to_uint8(entry["image"], f"{source}['image']")
        masks = entry["masks"]
        if len(masks) != self.n_raters:
            raise InputError(f"{source}['masks']: {len(masks)} rater masks, expected n_raters = {self.n_raters}")
        sources = [f"{source}['masks'][{rater}]" for rater in range(self.n_raters)]
        raters = [binary_labels(np.asarray(mask), where) for mask, where in zip(masks, sources, strict=True)]
        uid = entry.get("series_uid")
        group = uid.split("_")[0] if isinstance(uid, str) and uid else None
        return rater_sample(name, image, raters, sources, self._split[name], group, self.allow_empty)
