"""``methods.base.class_argmax``: the same labels as ``argmax(dim=1)``, ties, NaN and memory formats included."""

from __future__ import annotations

import pytest
import torch

from methods.base import class_argmax


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_class_argmax_equals_torch_argmax(classes: int, memory_format: torch.memory_format,
                                          dtype: torch.dtype) -> None:
    """Scores on a coarse grid (many exact ties), signed zeros, NaN and infinities in either class."""
    generator = torch.Generator().manual_seed(0)
    scores = (torch.randint(-2, 3, (4, classes, 16, 16), generator=generator).float() / 2).to(dtype)
    scores[0, 0, 0, :3] = torch.tensor([float("nan"), -0.0, float("inf")])
    scores[0, 1, 0, :3] = torch.tensor([1.0, 0.0, float("inf")])
    scores[1, 1, 0, :2] = float("nan")
    scores[1, 0, 0, 1] = float("nan")
    scores[2, 1, 0, 0] = float("-inf")
    scores = scores.contiguous(memory_format=memory_format)
    labels = class_argmax(scores)
    assert labels.dtype == torch.int64
    assert torch.equal(labels, scores.argmax(dim=1))


def test_class_argmax_on_volumes() -> None:
    """``(B, C, D, H, W)`` scores (the 3D networks) give ``(B, D, H, W)`` labels."""
    scores = torch.randn((2, 2, 4, 8, 8), generator=torch.Generator().manual_seed(1))
    assert torch.equal(class_argmax(scores), scores.argmax(dim=1))
