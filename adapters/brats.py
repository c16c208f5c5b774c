"""BraTS2020 training data in the challenge's NIfTI layout (GSD-Net Table 5), read with nibabel.

Layout (the folder itself or its parent may be given)::

    MICCAI_BraTS2020_TrainingData/
        BraTS20_Training_001/
            BraTS20_Training_001_t1.nii.gz    (or .nii)
            BraTS20_Training_001_t1ce.nii.gz
            BraTS20_Training_001_t2.nii.gz
            BraTS20_Training_001_flair.nii.gz
            BraTS20_Training_001_seg.nii.gz
        ...

Every sub-folder of the data folder is one subject (sample name = folder name); other files there (the
release's ``name_mapping.csv``, ``survival_info.csv``) are ignored. The release misnames one segmentation
(``BraTS20_Training_355/W39_1998.09.19_Segm.nii``): rename it to ``BraTS20_Training_355_seg.nii``.

Orientation: a NIfTI volume is stored (x, y, z); a sample is ``(D, H, W)`` = (z, y, x), i.e. the axial slices
first, so augmentation rotates and flips in the axial plane (H-W).

Image: the four sequences as channels in :data:`SEQUENCES` order (T1, T1ce, T2, FLAIR), uint8 ``(D, H, W, 4)``.
Intensity rule (:func:`scale_sequence`), per sequence and per volume: the brain is the non-zero voxels (the
volumes are skull-stripped, background 0); values are clipped to the 0.5th and 99.5th percentiles of the brain
and mapped linearly to 0-255 (rounded); background voxels stay 0.

Mask: whole tumour, labels {1, 2, 4} (necrotic core, oedema, enhancing tumour) merged; bool ``(D, H, W)``.

Bad input, each an InputError naming the file: a missing sequence or segmentation file, an unreadable file, a
volume that is not 3D, shapes that differ between the sequences and the segmentation, a sequence without
non-zero voxels, segmentation labels outside {0, 1, 2, 4}, and an empty tumour (unless ``allow_empty``).

No split in the layout: the seeded rule applies (the paper's 296 / 73: ``n_test: 73``).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from adapters.base import Adapter, Sample
from adapters.registry import register_adapter
from common.errors import InputError

#: The release's folder name; a path holding it is taken as its parent.
RELEASE_FOLDER = "MICCAI_BraTS2020_TrainingData"
#: Image channels, in order.
SEQUENCES = ("t1", "t1ce", "t2", "flair")
#: The segmentation's file suffix.
SEGMENTATION = "seg"
#: Labels a segmentation may hold; all but 0 are tumour (whole tumour).
ALLOWED_LABELS = (0, 1, 2, 4)
#: Percentiles of the brain voxels that the intensity rule clips to.
CLIP_PERCENTILES = (0.5, 99.5)
NIFTI_SUFFIXES = (".nii.gz", ".nii")

INTENSITY_RULE = (
    f"per sequence and volume: clip to the {CLIP_PERCENTILES[0]}/{CLIP_PERCENTILES[1]} percentiles of the non-zero "
    "(brain) voxels, scale linearly to 0-255, round; background (0) stays 0"
)


def read_volume(path: Path, kind: str = "volume") -> np.ndarray:
    """The voxel values of a 3D NIfTI file as ``(D, H, W)`` = (z, y, x), float64; InputError naming the file and
    ``kind`` (the sequence, or "seg") for an unreadable file or complex, NaN or infinite voxels."""
    import nibabel as nib

    try:
        raw = np.asarray(nib.load(path).dataobj)
    except Exception as error:  # nibabel raises many types for a damaged or foreign file
        raise InputError(f"{path}: cannot read NIfTI volume ({type(error).__name__}: {error})") from None
    if raw.dtype.kind not in "biuf":
        raise InputError(f"{path}: {kind} voxels are {raw.dtype} (complex or not numbers); expected real values")
    values = raw.astype(np.float64)
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise InputError(f"{path}: {kind} has {bad} NaN or infinite voxel(s)")
    if values.ndim == 4 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim != 3:
        raise InputError(f"{path}: expected a 3D volume, got shape {values.shape}")
    return np.ascontiguousarray(values.transpose(2, 1, 0))


def scale_sequence(values: np.ndarray, source: Path) -> np.ndarray:
    """:data:`INTENSITY_RULE`: one sequence's volume to uint8; InputError naming ``source`` if it has no brain."""
    brain = values != 0
    if not brain.any():
        raise InputError(f"{source}: the sequence has no non-zero (brain) voxels")
    low, high = np.percentile(values[brain], CLIP_PERCENTILES)
    constant = high <= low
    scaled = np.full(values.shape, 255.0) if constant else (np.clip(values, low, high) - low) / (high - low) * 255.0
    return np.where(brain, np.rint(scaled), 0.0).astype(np.uint8)


def whole_tumour(labels: np.ndarray, source: Path) -> np.ndarray:
    """Labels {1, 2, 4} merged to a bool mask; any other label than 0, 1, 2, 4 is an InputError naming ``source``."""
    found = np.unique(labels)
    unknown = [value for value in found.tolist() if value not in ALLOWED_LABELS]
    if unknown:
        shown = ", ".join(f"{value:g}" for value in unknown[:5])
        raise InputError(f"{source}: segmentation labels {shown} are not BraTS labels "
                         f"({', '.join(map(str, ALLOWED_LABELS))})")
    return labels != 0


@register_adapter("brats")
class BratsAdapter(Adapter):
    """BraTS2020 training subjects as 4-channel volumes with whole-tumour masks (see the module docstring)."""

    @cached_property
    def root(self) -> Path:
        """The folder holding the subject folders."""
        assert self.path is not None
        release = self.path / RELEASE_FOLDER
        return release if release.is_dir() else self.path

    @cached_property
    def _subjects(self) -> dict[str, Path]:
        """``{name: folder}`` of every subject, sorted by name."""
        folders = sorted(path for path in self.root.iterdir() if path.is_dir() and not path.name.startswith("."))
        if not folders:
            raise InputError(f"{self.root}: no subject folders (expected {RELEASE_FOLDER}/BraTS20_Training_XXX/)")
        return {folder.name: folder for folder in folders}

    def sample_names(self) -> list[str]:
        """Subject folder names, sorted."""
        return list(self._subjects)

    def _file(self, name: str, kind: str) -> Path:
        """The NIfTI file of ``kind`` (a sequence or "seg") of subject ``name``; InputError naming it if missing."""
        folder = self._subjects[name]
        for suffix in NIFTI_SUFFIXES:
            path = folder / f"{name}_{kind}{suffix}"
            if path.is_file():
                return path
        raise InputError(f"{folder / f'{name}_{kind}.nii.gz'}: file not found (nor .nii)")

    def load(self, name: str) -> Sample:
        """Read subject ``name``: ``(D, H, W, 4)`` uint8 image and its whole-tumour mask, validated."""
        if name not in self._subjects:
            raise InputError(f"adapter 'brats': no subject named {name!r} in {self.root}")
        seg_path = self._file(name, SEGMENTATION)
        labels = read_volume(seg_path, SEGMENTATION)
        channels = []
        for sequence in SEQUENCES:
            path = self._file(name, sequence)
            values = read_volume(path, f"sequence {sequence}")
            if values.shape != labels.shape:
                raise InputError(f"{path}: shape {values.shape[::-1]} (x, y, z) differs from the segmentation "
                                 f"{seg_path.name} {labels.shape[::-1]}")
            channels.append(scale_sequence(values, path))
        mask = whole_tumour(labels, seg_path)
        if not self.allow_empty and not mask.any():
            raise InputError(f"{seg_path}: no tumour (all labels 0); set option allow_empty: true to accept")
        return Sample(name=name, image=np.stack(channels, axis=-1), mask=mask)
