"""One mask reader for the adapters and the noise command line: 16-bit, palette, alpha, grey-share rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adapters.masks import binarize_mask, format_share
from adapters.reading import read_mask
from common.errors import InputError
from noise.simulate import read_mask_file

SHAPE = (20, 30)


def _square() -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[5:15, 8:20] = True
    return mask


def test_sixteen_bit_masks_scale_by_their_range(tmp_path: Path) -> None:
    for top in (65535, 1):
        path = tmp_path / f"mask{top}.png"
        Image.fromarray(_square().astype(np.uint16) * np.uint16(top)).save(path)
        np.testing.assert_array_equal(read_mask(path), _square())
    dim = tmp_path / "dim.png"
    Image.fromarray(_square().astype(np.uint16) * np.uint16(255)).save(dim)
    assert not read_mask(dim).any()  # 255 of 65535 is dark: empty, which the adapters then refuse as such


def test_palette_mask_reads_indices_with_void_as_background(tmp_path: Path) -> None:
    indices = np.zeros(SHAPE, dtype=np.uint8)
    indices[4:16, 7:21] = 255
    indices[_square()] = 1
    image = Image.fromarray(indices, mode="P")
    palette = [0, 0, 0, 128, 0, 0] + [0, 0, 0] * 253 + [224, 224, 192]
    image.putpalette(palette)
    image.save(tmp_path / "voc.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "voc.png"), _square())


def test_alpha_rule_is_the_same_for_adapters_and_the_noise_command_line(tmp_path: Path) -> None:
    rgba = np.zeros((*SHAPE, 4), dtype=np.uint8)
    rgba[..., 3] = _square() * 255
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    la = np.stack([_square() * np.uint8(255), np.full(SHAPE, 255, np.uint8)], axis=-1)
    Image.fromarray(la).save(tmp_path / "la.png")
    for reader in (read_mask, read_mask_file):
        with pytest.raises(InputError, match="alpha channel that is not fully opaque"):
            reader(tmp_path / "alpha.png")
        np.testing.assert_array_equal(reader(tmp_path / "alpha.png", mask_channel=3), _square())
        np.testing.assert_array_equal(reader(tmp_path / "la.png"), _square())


def test_grey_share_limit_is_an_option_and_printed_with_enough_digits() -> None:
    mask = _square().astype(np.uint8) * 255
    mask.flat[:7] = 128
    share = 7 / mask.size
    with pytest.raises(InputError, match=r"\(1\.2 % of pixels"):
        binarize_mask(mask, "m", max_grey_share=0.01)
    np.testing.assert_array_equal(binarize_mask(mask, "m", max_grey_share=0.02)[5:], _square()[5:])
    assert format_share(0.010009, 0.01) == "1.001 %" and format_share(share, 0.01) == "1.2 %"


def test_max_le_one_is_no_shortcut_past_the_check() -> None:
    with pytest.raises(InputError, match=r"half: mask values lie in 0..1 \(0..0.5\) but are not 0/1 labels"):
        binarize_mask(np.where(_square(), 0.5, 0.0), "half")
    np.testing.assert_array_equal(binarize_mask(_square().astype(np.float32), "labels"), _square())
