"""GSD-Net's components as pure functions (spec ``gsd-net.md``, Eq. 4 and 7-20).

Shapes: logits and probabilities ``(B, 2, H, W)``; labels, masks, weights and per-pixel losses ``(B, H, W)``.
Volumes (BraTS) add a depth axis: ``(B, 2, D, H, W)`` and ``(B, D, H, W)``; every function here works on both.
Everything random takes an explicit ``torch.Generator`` so that one seed gives bit-identical results.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from methods.selection import (
    pixel_cross_entropy,
    selected_sum,
    small_loss_mask,
    supervised_pixel_loss,
    symmetric_kl,
)

RegionRule = Literal["threshold", "random"]
KtCrossEntropy = Literal["paper", "double_softmax"]


def boundary_mask(labels: torch.Tensor) -> torch.Tensor:
    """Eq. 7: pixels of ``(B, H, W)`` labels with an 8-neighbour of the other class (26-neighbour for
    ``(B, D, H, W)`` volumes); bool, same shape. Neighbours outside the image do not exist.

    These are exactly the pixels whose capped distance D (Eq. 8, ``priors.distance``) is 1.
    """
    foreground = labels.bool().unsqueeze(1).float()
    pool = {4: F.max_pool2d, 5: F.max_pool3d}[foreground.dim()]
    near_foreground = pool(foreground, kernel_size=3, stride=1, padding=1).squeeze(1).bool()
    near_background = pool(1.0 - foreground, kernel_size=3, stride=1, padding=1).squeeze(1).bool()
    return torch.where(labels.bool(), near_background, near_foreground)


def gda_weight_cap(epoch: int, w_max: float, decay_every: int = 10) -> float:
    """Eq. 9's upper clip ``max(w_max + 1 - floor(epoch / decay_every), 1)``: drops by one every ``decay_every``."""
    return max(w_max + 1 - math.floor(epoch / decay_every), 1.0)


def distance_weights(distance: torch.Tensor, epoch: int, w_max: float, decay_every: int = 10) -> torch.Tensor:
    """Eq. 9: GDA weights ``W = clip(D, 1, gda_weight_cap(epoch, w_max, decay_every))`` as float."""
    return distance.float().clamp(1.0, gda_weight_cap(epoch, w_max, decay_every))


def gda_loss(pixel_loss: torch.Tensor, weights: torch.Tensor, keep_ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 10: ``(1/|S|) sum_{i in S} W_i l_i`` with S selected by the UNweighted ``l_i`` (Eq. 5).

    Returns the loss and the bool small-loss mask S. With all weights 1 this is L_jocor (Eq. 6).
    """
    small_loss = small_loss_mask(pixel_loss, keep_ratio)
    return selected_sum(weights * pixel_loss, small_loss) / small_loss.sum(), small_loss


def fuse_probabilities(
    logits1: torch.Tensor, logits2: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 11: ``q = a * p1 + (1 - a) * p2`` with one ``a ~ U(0, 1)`` per batch; returns (detached q, a).

    ``a`` stays a 0-d tensor on the device (no read-back); ``1 - a`` is taken in float64 and then rounded, as for a
    Python float ``a``."""
    probs1 = torch.softmax(logits1.detach(), dim=1)
    probs2 = torch.softmax(logits2.detach(), dim=1)
    alpha = torch.rand((), generator=generator, device=generator.device).to(probs1.device)
    return alpha * probs1 + (1.0 - alpha.double()).float() * probs2, alpha


def superpixel_vote(fg_prob: torch.Tensor, superpixels: torch.Tensor, num_segments: int | None = None) -> torch.Tensor:
    """Eq. 12-13: per image and superpixel k, ``c_k = mean_{i in k} q_fg``; label ``c_k >= 0.5`` (int64).

    Vectorised over the batch: each pixel gets the flat id ``image * K + superpixel`` (K = ``num_segments``, any
    bound above the labels; default the largest label + 1, read from the device), the per-id sums are one
    ``scatter_add`` in float64, so a mean of exactly 0.5 votes foreground.
    """
    batch_size = fg_prob.shape[0]
    if num_segments is None:
        num_segments = int(superpixels.max().item()) + 1
    image_index = torch.arange(batch_size, device=superpixels.device).view(-1, *([1] * (superpixels.dim() - 1)))
    segment_ids = (image_index * num_segments + superpixels.long()).reshape(-1)
    num_ids = batch_size * num_segments
    sums = torch.zeros(num_ids, dtype=torch.float64, device=fg_prob.device)
    sums.scatter_add_(0, segment_ids, fg_prob.detach().reshape(-1).double())
    counts = torch.bincount(segment_ids, minlength=num_ids).clamp(min=1)
    segment_means = sums / counts
    return (segment_means[segment_ids] >= 0.5).long().reshape(fg_prob.shape)


def refine_labels(
    labels: torch.Tensor,
    small_loss: torch.Tensor,
    fused_prob: torch.Tensor,
    superpixels: torch.Tensor | None,
    num_segments: int | None = None,
) -> torch.Tensor:
    """Eq. 14: keep the noisy label ``y`` on the small-loss set S, elsewhere a label from ``q`` (``fused_prob``).

    With ``superpixels`` (SGLR): the superpixel vote of Eq. 12-13. Without (Table 7's pixel-wise "LR"): the
    per-pixel rule of Eq. 13, ``q_fg >= 0.5``, i.e. the argmax of q (an exact tie goes to foreground, as in Eq. 13).
    ``num_segments``: an upper bound of the superpixel labels (see :func:`superpixel_vote`).
    """
    fg_prob = fused_prob[:, 1]
    estimate = (fg_prob >= 0.5).long() if superpixels is None else superpixel_vote(fg_prob, superpixels, num_segments)
    return torch.where(small_loss, labels, estimate)


def region_masks(
    refined: torch.Tensor, r_cp: float, rule: RegionRule, generator: torch.Generator | None = None
) -> torch.Tensor:
    """KT region mask M_i (bool): the region of image i that stays; the partner's pixels fill the rest (Eq. 15).

    ``"threshold"`` (reference code, ``--ratecp``): M_i = background of r_i if its foreground share exceeds
    ``r_cp``, else M_i = foreground of r_i. ``"random"`` (the paper's wording, Sec. 3.5): M_i = background with
    probability equal to the foreground share of r_i, else foreground (one ``u ~ U(0, 1)`` per image from
    ``generator``; background iff ``u < share``). ``r_cp`` is unused by the random rule.
    """
    foreground_share = refined.float().flatten(1).mean(dim=1)
    if rule == "threshold":
        keep_background = foreground_share > r_cp
    elif rule == "random":
        if generator is None:
            raise ValueError("region_masks: rule 'random' needs a generator")
        draws = torch.rand(refined.shape[0], generator=generator, device=generator.device)
        keep_background = draws.to(refined.device) < foreground_share
    else:
        raise ValueError(f"region_masks: rule must be 'threshold' or 'random', got {rule!r}")
    keep_class = torch.where(keep_background, 0, 1).view(-1, *([1] * (refined.dim() - 1)))
    return refined == keep_class


def knowledge_transfer_mix(
    images: torch.Tensor,
    jittered: torch.Tensor,
    refined: torch.Tensor,
    weights: torch.Tensor,
    region_mask: torch.Tensor,
    permutation: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 15: ``z_m = M ⊙ z + (1 - M) ⊙ z[permutation]`` for images, jittered images, refined labels, weights.

    Returns (mixed images, mixed jittered, mixed labels, mixed weights); the same mask M mixes all four.
    """
    pixel_mask = region_mask.bool()
    channel_mask = pixel_mask.unsqueeze(1)
    return (
        torch.where(channel_mask, images, images[permutation]),
        torch.where(channel_mask, jittered, jittered[permutation]),
        torch.where(pixel_mask, refined, refined[permutation]),
        torch.where(pixel_mask, weights, weights[permutation]),
    )


def soft_dice_loss(probs: torch.Tensor, labels: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """Eq. 16: ``1 - mean_{b,c} (2 sum_i p t + s) / (sum_i p + sum_i t + s)``, per image and class, s = 1."""
    one_hot = torch.nn.functional.one_hot(labels.long(), probs.shape[1]).movedim(-1, 1).to(probs.dtype)
    spatial_dims = tuple(range(2, probs.dim()))
    intersection = (probs * one_hot).sum(dim=spatial_dims)
    total = probs.sum(dim=spatial_dims) + one_hot.sum(dim=spatial_dims)
    return 1.0 - ((2.0 * intersection + smooth) / (total + smooth)).mean()


def knowledge_transfer_loss(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor, kt_ce: KtCrossEntropy = "paper"
) -> torch.Tensor:
    """Eq. 17 for one network: ``0.5 * sum(wm * ce(pm, rm)) / N + 0.5 * mean(wm) * dice(pm, rm)``.

    ``kt_ce="paper"``: ce from the logits (Eq. 1). ``"double_softmax"`` (reference code): CrossEntropyLoss
    applied to the softmax outputs, i.e. a second softmax.
    """
    probs = torch.softmax(logits, dim=1)
    if kt_ce == "paper":
        cross_entropy = pixel_cross_entropy(logits, labels)
    elif kt_ce == "double_softmax":
        cross_entropy = pixel_cross_entropy(probs, labels)
    else:
        raise ValueError(f"knowledge_transfer_loss: kt_ce must be 'paper' or 'double_softmax', got {kt_ce!r}")
    weighted_ce = (weights * cross_entropy).sum() / cross_entropy.numel()
    return 0.5 * weighted_ce + 0.5 * weights.mean() * soft_dice_loss(probs, labels)


def consistency_loss(logits1: torch.Tensor, logits2: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq. 18: ``L_con = 0.5 * mean_i(wm_i * skl(p1m, p2m)_i)`` on the (mixed) batch."""
    return 0.5 * (weights * symmetric_kl(logits1, logits2)).mean()


@torch.no_grad()
def search_loss(logits1: torch.Tensor, logits2: torch.Tensor, labels: torch.Tensor, small_loss: torch.Tensor,
                supervised: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 20: mean over all pixels of ``sup_i`` on S and ``ce(p1, 1-y)_i + ce(p2, 1-y)_i`` on the complement S'.

    ``supervised``: ``sup_i`` (:func:`methods.selection.supervised_pixel_loss`) when the caller has it already."""
    if supervised is None:
        supervised = supervised_pixel_loss(logits1, logits2, labels)
    inverted_supervised = supervised_pixel_loss(logits1, logits2, 1 - labels)
    return torch.where(small_loss, supervised, inverted_supervised).mean()
