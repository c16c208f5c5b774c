"""Reading image and mask files into arrays, with one-line InputErrors naming the file.

Images become uint8 ``(H, W, C)`` with C = 1 (grey) or 3 (RGB): palette, CMYK and other colour modes are converted
to RGB, an alpha channel (RGBA) is dropped, 16-bit images are scaled to 8 bit (value / 257, rounded), and
images with 2 or more than 4 channels, or floating-point pixels, are rejected. Masks are read by
:func:`read_mask` (palette masks by index; 16-bit masks scaled by 65535; alpha refused unless ``mask_channel``)
and binarised by :func:`adapters.masks.binarize_mask`. EXIF orientation is not applied:
pixels are used in the order they are stored, for images and masks alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from adapters.masks import DEFAULT_MAX_GREY_SHARE, VOID_INDEX, binarize_mask
from common.errors import InputError

#: File name endings (lower case) read as images or masks; other files in a folder are ignored.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

_SIXTEEN_BIT_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}
_RGB_CONVERTED_MODES = {"CMYK", "YCbCr", "LAB", "HSV"}


def _open(path: Path) -> Image.Image:
    """Open and fully decode ``path``; any decoder failure (missing, truncated, not an image) is an InputError, and
    so is a file of several frames (a stack or volume), which would otherwise be read as its first frame only."""
    try:
        with Image.open(path) as opened:
            frames = getattr(opened, "n_frames", 1)
            opened.load()
            image = opened.copy()
    except Exception as error:
        raise InputError(f"{path}: cannot read image ({type(error).__name__}: {error})") from None
    if frames > 1:
        raise InputError(f"{path}: holds {frames} frames (a stack or 3D volume); expected one 2D image")
    return image


def read_image(path: Path) -> np.ndarray:
    """Read ``path`` as a uint8 ``(H, W, C)`` image with C = 1 or 3 (see the module docstring for conversions)."""
    image = _open(path)
    if image.mode == "1":
        image = image.convert("L")
    elif image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    elif image.mode in _RGB_CONVERTED_MODES:
        image = image.convert("RGB")
    elif image.mode == "F":
        raise InputError(f"{path}: floating-point images are not supported (mode F); save it as 8- or 16-bit")
    pixels = np.asarray(image)
    if image.mode in _SIXTEEN_BIT_MODES:
        if pixels.min() < 0 or pixels.max() > 65535:
            raise InputError(f"{path}: 32-bit integer pixel values outside 0-65535 are not supported")
        pixels = np.rint(pixels.astype(np.float64) / 257.0)
    pixels = np.asarray(pixels, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    channels = pixels.shape[2]
    if channels == 4:
        pixels = pixels[:, :, :3]
    elif channels not in (1, 3):
        raise InputError(f"{path}: image has {channels} channels; expected 1 (grey), 3 (RGB) or 4 (RGBA)")
    return np.ascontiguousarray(pixels)


def read_mask(path: Path, max_grey_share: float = DEFAULT_MAX_GREY_SHARE,
              mask_channel: int | None = None) -> np.ndarray:
    """Read ``path`` as a mask and binarise it by :data:`adapters.masks.MASK_RULE`; bool ``(H, W)``.

    The one mask reader of the adapters and ``python -m noise``. ``mask_channel`` (0-based) picks one stored
    channel (e.g. 3: the alpha of an RGBA mask); without it a mask with an alpha channel that is not fully opaque is
    refused. Palette masks are read by index (:data:`adapters.masks.VOID_INDEX` and 0 background).
    """
    image = _open(path)
    mode = image.mode
    if mode == "F":
        raise InputError(f"{path}: floating-point masks are not supported (mode F); save it as 8- or 16-bit")
    if mode in _RGB_CONVERTED_MODES:
        image = image.convert("RGB")
    values = np.asarray(image)
    channels = 1 if values.ndim == 2 else values.shape[2]
    if mask_channel is not None:
        if not 0 <= mask_channel < channels:
            raise InputError(f"{path}: mask_channel {mask_channel} does not exist; the mask has {channels} "
                             f"channel(s) (mode {mode})")
        if channels > 1:
            values = values[:, :, mask_channel]
    elif channels in (2, 4):
        if values[:, :, -1].min() < values[:, :, -1].max() or values[:, :, -1].min() == 0:
            raise InputError(f"{path}: mask has an alpha channel that is not fully opaque (mode {mode}); set option "
                             f"mask_channel to the channel that holds the mask (0-{channels - 1})")
        values = values[:, :, 0] if channels == 2 else values[:, :, :3]
    if mode in ("P", "PA") and (mask_channel is None or mask_channel == 0):
        return (values != 0) & (values != VOID_INDEX)
    return binarize_mask(values, str(path), max_grey_share, 65535.0 if mode in _SIXTEEN_BIT_MODES else 255.0)


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is a visible regular file with an image suffix; a dangling symbolic link is an InputError
    naming it."""
    if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
        return False
    if path.is_symlink() and not path.exists():
        raise dangling_link_error(path)
    return path.is_file()


def dangling_link_error(path: Path) -> InputError:
    """The error for a symbolic link whose target is missing, naming both."""
    return InputError(f"{path}: dangling symbolic link (its target {path.readlink()} does not exist)")


def image_files(folder: Path) -> dict[str, Path]:
    """Image files directly in ``folder`` by stem (hidden files and other endings ignored).

    A dangling symbolic link is an InputError naming it. Two files sharing a stem (``a.png`` and ``a.jpg``) are
    an InputError naming the folder and both files.
    """
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not is_image_file(path):
            continue
        if path.stem in files:
            raise InputError(f"{folder}: two files share the name {path.stem!r}: {files[path.stem].name}, {path.name}")
        files[path.stem] = path
    return files
