"""A per-sample label store: training labels that a method corrects across epochs (ADELE, SP-Guide).

The store is a submodule of its method holding one persistent uint8 buffer ``labels`` ``(N, *spatial)`` in
training-set order, so it is saved in every checkpoint and restored on resume. It is empty until
:meth:`LabelStore.reset` (called from the method's ``on_train_start``, before a checkpoint is restored) fills it
with the noisy labels.
"""

from __future__ import annotations

import torch
from torch import nn


class LabelStore(nn.Module):
    """Per-sample labels ``(N, *spatial)`` uint8 that override the noisy ones."""

    labels: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("labels", torch.zeros(0, dtype=torch.uint8), persistent=True)

    def reset(self, labels: torch.Tensor, device: torch.device) -> None:
        """Start from ``labels`` (the training set's noisy labels), copied to ``device`` as uint8."""
        self.labels = labels.to(device=device, dtype=torch.uint8).clone()

    def take(self, indices: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The stored labels of the samples at ``indices``, in ``like``'s dtype and device."""
        return self.labels[indices.to(self.labels.device)].to(device=like.device, dtype=like.dtype)

    def replace(self, labels: torch.Tensor) -> torch.Tensor:
        """Store ``labels`` (same shape) and return the share of pixels that changed (0-dim float64)."""
        labels = labels.to(device=self.labels.device, dtype=torch.uint8)
        changed = (labels != self.labels).sum().double() / max(self.labels.numel(), 1)
        self.labels = labels
        return changed
