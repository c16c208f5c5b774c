"""Segmentation metrics. Dice is defined once here and used everywhere (noise statistics, evaluation)."""

from __future__ import annotations

import numpy as np
import torch

#: The reference code's per-image Dice smoothing (spec, Protocol).
DICE_SMOOTH = 1e-6


def dice_per_image(prediction: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor,
                   smooth: float = DICE_SMOOTH) -> np.ndarray:
    """Foreground Dice ``(2|P∩T| + s) / (|P| + |T| + s)`` for each item of a ``(B, ...)`` batch; float64 ``(B,)``.

    Inputs are binary (bool or {0, 1}). With the default smoothing an empty prediction on an empty mask scores 1.
    """
    if isinstance(prediction, torch.Tensor):
        prediction = prediction.detach().cpu().numpy()
    if isinstance(target, torch.Tensor):
        target = target.detach().cpu().numpy()
    pred = np.asarray(prediction).astype(bool).reshape(len(prediction), -1)
    true = np.asarray(target).astype(bool).reshape(len(target), -1)
    if pred.shape != true.shape:
        raise ValueError(f"prediction shape {pred.shape} != target shape {true.shape}")
    intersection = np.count_nonzero(pred & true, axis=1)
    total = np.count_nonzero(pred, axis=1) + np.count_nonzero(true, axis=1)
    return (2.0 * intersection + smooth) / (total + smooth)
