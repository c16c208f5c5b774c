"""Per-pixel losses and small-loss selection shared by the co-training methods (spec Eq. 1-5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pixel_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 1: per-pixel cross-entropy ``-log p_{i, y_i}`` of ``(B, C, H, W)`` logits, shape ``(B, H, W)``."""
    return F.cross_entropy(logits, labels, reduction="none")


def symmetric_kl(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """Eq. 3: ``KL(p_a || p_b) + KL(p_b || p_a)`` per pixel, summed over classes, shape ``(B, H, W)``."""
    log_a = F.log_softmax(logits_a, dim=1)
    log_b = F.log_softmax(logits_b, dim=1)
    return ((log_a.exp() - log_b.exp()) * (log_a - log_b)).sum(dim=1)


def supervised_pixel_loss(logits1: torch.Tensor, logits2: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 2's supervised part ``ce(p1, y)_i + ce(p2, y)_i`` per pixel, shape ``(B, H, W)``."""
    return pixel_cross_entropy(logits1, labels) + pixel_cross_entropy(logits2, labels)


def co_regularised_pixel_loss(logits1: torch.Tensor, logits2: torch.Tensor, labels: torch.Tensor,
                              co_weight: float, supervised: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 2-4: ``l_i = ce(p1, y)_i + ce(p2, y)_i + g * skl(p1, p2)_i`` per pixel, shape ``(B, H, W)``;
    ``supervised``: the first two terms (:func:`supervised_pixel_loss`) when the caller has them already."""
    if supervised is None:
        supervised = supervised_pixel_loss(logits1, logits2, labels)
    return supervised + co_weight * symmetric_kl(logits1, logits2)


def retention(epoch: int, tau: float, ramp_epochs: int = 20) -> float:
    """Eq. 5's R(t) = 1 - tau * min(t / (ramp_epochs - 1), 1): the share of pixels kept at 0-based ``epoch``.

    With the default ``ramp_epochs = 20`` the forget rate rises linearly from 0 at epoch 0 to tau at epoch 19.
    """
    if not 0.0 <= tau < 1.0:
        raise ValueError(f"tau must be in [0, 1), got {tau}")
    ramp = min(epoch / (ramp_epochs - 1), 1.0) if ramp_epochs > 1 else 1.0
    return 1.0 - tau * ramp


def small_loss_mask(pixel_loss: torch.Tensor, keep_ratio: float) -> torch.Tensor:
    """Eq. 5: bool mask of the ``round(keep_ratio * N)`` smallest values over the whole batch (not per image).

    Ties are broken by position (the set a stable sort's first values give, :func:`smallest_mask`), so the selection
    is deterministic. At least one pixel is kept.
    """
    numel = pixel_loss.numel()
    return smallest_mask(pixel_loss, max(1, min(numel, round(keep_ratio * numel))))


def smallest_mask(values: torch.Tensor, count: int) -> torch.Tensor:
    """Bool mask of the ``count`` smallest entries of ``values`` (over all its elements); ties at the threshold go
    to the earliest positions, so the set is the first ``count`` of a stable ascending sort. Found by selection
    (``torch.kthvalue``, linear time) rather than a sort."""
    flat = values.detach().reshape(-1)
    if count >= flat.numel():
        return torch.ones_like(values, dtype=torch.bool)
    if count <= 0:
        return torch.zeros_like(values, dtype=torch.bool)
    threshold = torch.kthvalue(flat, count).values
    below = flat < threshold
    ties = flat == threshold
    return (below | (ties & (torch.cumsum(ties, dim=0) <= count - below.sum()))).reshape(values.shape)


def kth_largest(values: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The ``k``-th largest entry of the 1-D ``values`` (``k`` a 0-d int64 tensor, ``1 <= k <= n``; 0 reads as 1),
    as a 0-d tensor. On CPU by selection (``torch.kthvalue`` of the negated values: linear time, where a sort of
    16x128² pixels took 11 ms), elsewhere by a descending sort indexed on the device, without reading ``k`` back to
    the host. Both give the same value."""
    k = k.clamp(min=1)
    if values.device.type == "cpu":
        return -torch.kthvalue(-values, int(k)).values
    return torch.sort(values, descending=True).values[k - 1]


def selected_sum(values: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """Sum of ``values`` over the bool mask ``selected``.

    On CPU by boolean indexing (the order of summation the golden values pin); on an accelerator as a masked sum,
    which does not read the selection's size back to the host (one synchronisation per step less) and rounds in
    another order, so it can differ in the last bits.
    """
    if values.device.type == "cpu":
        return values[selected].sum()
    return torch.where(selected, values, torch.zeros((), dtype=values.dtype, device=values.device)).sum()


def selected_mean(values: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the bool mask ``selected`` (NaN when nothing is selected); see :func:`selected_sum`."""
    if values.device.type == "cpu":
        return values[selected].mean()
    return selected_sum(values, selected) / selected.sum()


def peer_selected_losses(ce1: torch.Tensor, ce2: torch.Tensor,
                         keep_ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Co-Teaching's exchange (Han et al. 2018): each network's mean per-pixel loss over the ``keep_ratio`` share of
    pixels its peer finds small-loss; returns (loss of network 1, loss of network 2, selected by 1, selected by 2)."""
    selected_by_1 = small_loss_mask(ce1, keep_ratio)
    selected_by_2 = small_loss_mask(ce2, keep_ratio)
    return selected_mean(ce1, selected_by_2), selected_mean(ce2, selected_by_1), selected_by_1, selected_by_2
