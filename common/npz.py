"""Reading the suite's ``.npz`` files: a missing file, array or a damaged archive is one InputError naming it."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.errors import InputError


def read_npz(path: str | Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Arrays ``keys`` of the ``.npz`` at ``path`` (no pickle), loaded into memory."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{path}: not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise InputError(f"{path}: missing array(s) {', '.join(missing)} (has {', '.join(archive.files)})")
            return {key: archive[key] for key in keys}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise InputError(f"{path}: not a readable .npz file ({error})") from None
