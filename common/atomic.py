"""Atomic output writing: a file appears complete under its final name, or not at all."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import InputError

_UMASK = os.umask(0)
os.umask(_UMASK)
#: Zip entries get this fixed timestamp so the same arrays give byte-identical ``.npz`` files.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it into place with ``os.replace``.

    On any exception the temporary file is removed and ``path`` is left untouched. A full disk (ENOSPC, EDQUOT, or
    any write failure while the file system has no space left, e.g. inside ``torch.save``) is one InputError naming
    ``path`` and "no space left".
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp" + final.suffix)
    except OSError as error:
        if error.errno in _NO_SPACE:
            raise no_space_error(final) from None
        raise
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, final)
    except Exception as error:
        tmp.unlink(missing_ok=True)
        if (isinstance(error, OSError) and error.errno in _NO_SPACE) or _disk_full(final.parent):
            raise no_space_error(final) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


#: errno values of a full disk or an exhausted quota.
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def no_space_error(path: Path) -> InputError:
    """The one-line error for a write that failed on a full disk."""
    return InputError(f"{path}: no space left on the device (nothing was written; free space and rerun)")


def _disk_full(folder: Path) -> bool:
    """Whether the file system holding ``folder`` has no space left for an unprivileged writer."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 1024 * 1024


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_npz(path: str | os.PathLike[str], compressed: bool = True, **arrays: np.ndarray) -> None:
    """Write arrays to an ``.npz`` file atomically (compressed by default), byte-identical for equal arrays.

    The file is what ``numpy.savez(_compressed)`` writes (``numpy.load`` reads it), with fixed zip timestamps.
    """
    compression = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=compression, allowZip64=True) as archive:
        for key, value in arrays.items():
            entry = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            entry.compress_type = compression
            with archive.open(entry, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(value), allow_pickle=False)


def write_csv(path: str | os.PathLike[str], frame: Any) -> None:
    """Write a pandas DataFrame as CSV (no index) atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
