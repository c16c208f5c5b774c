"""LIDC-IDRI, the widely mirrored 2D four-rater release: one folder per patient, nodule and rater.

Layout (128x128 grey PNG crops; masks 0/255, binarised by :data:`adapters.masks.MASK_RULE`)::

    LIDC-IDRI-XXXX/nodule-K/images/slice-N.png
    LIDC-IDRI-XXXX/nodule-K/mask-0/slice-N.png  ...  mask-3/slice-N.png   (same file name per rater)

Sample name ``LIDC-IDRI-XXXX_nodule-K_slice-N`` (names sorted as strings), group = the patient folder, raters =
the four masks in ``mask-0`` .. ``mask-3`` order, ``mask`` = their consensus. Every non-hidden folder of the data
set folder is a patient and every non-hidden folder of a patient is a nodule. The release has no split: the
seeded rule splits by group, so a patient's slices stay in one split. A rater's empty mask is normal here (some
raters see no nodule on a slice), so ``allow_empty`` defaults to true; with false, a slice whose consensus is
empty is an error.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from adapters.base import Adapter, Sample, files_without_counterpart, list_names
from adapters.multi_rater import rater_sample
from adapters.reading import image_files, read_image
from adapters.registry import register_adapter
from common.errors import InputError

#: Rater folders of a nodule, in rater order.
LIDC_RATER_FOLDERS = ("mask-0", "mask-1", "mask-2", "mask-3")


class LidcSlice(NamedTuple):
    """Where one slice's files are: its image, its rater masks (rater order) and its patient."""

    image: Path
    raters: tuple[Path, ...]
    patient: str


def _subfolders(folder: Path) -> list[Path]:
    """Non-hidden folders directly in ``folder``, sorted by name."""
    return sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))


@register_adapter("lidc")
class LidcFourRaterAdapter(Adapter):
    """The 2D four-rater LIDC layout (see the module docstring); ``allow_empty`` defaults to true."""

    extra_options: ClassVar[dict[str, Any]] = {"allow_empty": True}
    #: Slices carry their patient as group: the seeded split counts groups, known only once loaded.
    split_from_listing: ClassVar[bool] = False

    @cached_property
    def _index(self) -> dict[str, LidcSlice]:
        """``{name: LidcSlice}`` for every slice, checked for missing rater folders and unmatched files."""
        index: dict[str, LidcSlice] = {}
        for patient in _subfolders(self.root):
            for nodule in _subfolders(patient):
                for name, files in self._nodule_slices(patient.name, nodule).items():
                    index[name] = files
        if not index:
            raise InputError(f"{self.root}: no slices found (expected LIDC-IDRI-XXXX/nodule-K/images/slice-N.png)")
        return dict(sorted(index.items()))

    @staticmethod
    def _nodule_slices(patient: str, nodule: Path) -> dict[str, LidcSlice]:
        """The slices of one nodule folder; a missing folder or a file without its counterpart is an InputError."""
        folders = [nodule / "images", *(nodule / rater for rater in LIDC_RATER_FOLDERS)]
        for folder in folders:
            if not folder.is_dir():
                raise InputError(f"{folder}: folder not found (a nodule needs images/ and "
                                 f"{', '.join(LIDC_RATER_FOLDERS)})")
        images = image_files(folders[0])
        raters = [image_files(folder) for folder in folders[1:]]
        for folder, masks in zip(folders[1:], raters, strict=True):
            missing = files_without_counterpart(images, masks)
            if missing:
                raise InputError(f"{folder / missing[0]}: rater mask not found ({len(missing)} image(s) of "
                                 f"{folders[0]} lack a mask here: {list_names(missing)})")
            extra = files_without_counterpart(masks, images)
            if extra:
                raise InputError(f"{folder / extra[0]}: mask without an image in {folders[0]} "
                                 f"({len(extra)} such file(s): {list_names(extra)})")
        return {f"{patient}_{nodule.name}_{stem}": LidcSlice(path, tuple(masks[stem] for masks in raters), patient)
                for stem, path in images.items()}

    def sample_names(self) -> list[str]:
        """Sorted names ``LIDC-IDRI-XXXX_nodule-K_slice-N``."""
        return list(self._index)

    def load(self, name: str) -> Sample:
        """The slice ``name``: grey image, four rater masks, their consensus, group = patient."""
        if name not in self._index:
            raise InputError(f"adapter 'lidc': no sample named {name!r} in {self.root}")
        files = self._index[name]
        image = read_image(files.image)
        raters = [self.read_mask(path) for path in files.raters]
        return rater_sample(name, image, raters, [str(path) for path in files.raters], None, files.patient,
                            self.allow_empty)
