"""SP-Guide baseline (Li, Gao, He, "Superpixel-Guided Iterative Learning from Noisy Labels for Medical Image
Segmentation", MICCAI 2021), spec ``baselines.md`` section SP-Guide; authors' code
github gaozhitong/SP_guided_Noisy_Label_Seg, ``lib/nlss.py`` (``noise_aware_training``, ``pixel_loss_selection``,
``super_pixel_smoothing``, ``label_refinement``), ``lib/utils/losses.py`` (``CELoss2``), configs
``exp/proposed/*_spemj01.yaml``.

Two networks on the same images, JoCoR-like, one backward for both.

Selection (per step, no gradient): each network's foreground probability is averaged within each superpixel of
its image (``batch.superpixels``; segment means by ``scatter_add`` over (image, segment) keys); on these smoothed
probabilities ``p~_k`` (clamped to ``[1e-6, 1 - 1e-6]`` so the logs stay finite) the per-pixel criterion is
``(1 - lambda)(CE1 + CE2) + lambda (KL(p~2 || p~1) + KL(p~1 || p~2))``, ``lambda`` = option ``co_lambda`` 0.65
(``spemj01.yaml``). Background and foreground pixels (by the current label) are selected separately over the
whole batch: with ``k = floor(f_c · n_c)`` (forget rate ``f_c`` of class c, ``n_c`` its pixels), pixels whose
criterion is below the k-th largest of their class are kept (ties with it dropped; k = 0 keeps the class), as
the authors' ``pixel_loss_selection``. Forget rates ``f_c = (1 - R_c) · min(t / (warmup_epochs - 1), 1)`` (the
authors' linear warm-up over ``warmup_epoch`` 5 epochs), constant ``1 - R_c`` after the refinement.

Loss: the same form on the raw logits (log-softmax KL), over the kept pixels, class-weighted as the authors'
``CELoss2.forward_select``: ``(w Σ_fg l + Σ_bg l) / (w n_fg + n_bg)`` with ``w = n_bg / n_fg`` of the kept pixels,
clipped to ``[1, 1e6]``. Logged per step: the loss gap, mean over the unselected pixels minus mean over the
kept ones (the same weighted form, each with its own weight), or minus the kept mean when none is unselected.

Label refinement, once (``Auto_E_step_epoch``): at each epoch end the epoch-mean gap is compared with the largest
so far (starting at 0, as the authors); when it has not set a new maximum for ``patience`` (5, the authors'
``not_improved_epochs``) epochs in a row, at that epoch end: both networks' foreground probabilities from the
eval-mode pass over the training set are averaged and superpixel-smoothed (``ctx.training_set.superpixels``);
among the pixels labelled background, with ``k`` = ``floor((1 - R_bg) n_bg)``, those whose mean is at least the
k-th largest and above 0.5 become foreground; among those labelled foreground, those whose mean is at most the
k-th smallest (``k = floor((1 - R_fg) n_fg)``) and below 0.5 become background (``conf_thres`` 0.5). Then
``R_c <- max(R_c, min(1.1 R_c, threshold_c))`` with thresholds ``rem_threshold_fg`` 0.9 and ``rem_threshold_bg``
0.95 (``rem_thres``, ``rem_thres_bg``, ``rem_linear_param`` 1.1 of ``spemj01.yaml``) and training continues on
the refined labels (a per-sample label store) with constant forget rates.

Remember rates: the authors set per-class label precisions as known; the suite uses ``R_bg = R_fg = 1 - tau``
(the run's noise rate, the oracle of the other small-loss methods) unless ``remember_rate_bg`` /
``remember_rate_fg`` give class rates (0 = ``1 - tau``).

Adaptations and choices, named:
- The flip shares are taken over the whole training set at once (the authors: per batch of their E-step loader);
  pixels tied with the k-th value flip too, so that superpixels flip whole (the authors compare strictly).
- The authors' epoch 0 is an evaluation-only pass, so their first training epoch already forgets a quarter of
  ``1 - R``; here epoch 0 trains with forget rate 0 (the shared ramp ``methods.selection.retention``).
- The gap's epoch mean is the mean of per-step gaps, as the authors' meter.
- Optimiser: the shared protocol's; ``authors_optimizer: true`` gives the authors' SGD lr 5e-3, momentum 0.99,
  weight decay 1e-4 (``spemj01.yaml``; ``lib/configs/config.py`` default weight decay; 200 epochs x 250 batches
  there). Inference ``fused`` (suite default) or ``net1`` (the authors score network 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from methods.base import Batch, EpochContext, LossOutput, OptimizerSettings, StepContext
from methods.co_training import SmallLossMethod, clean_share_log
from methods.label_store import LabelStore, LabelStoreHooks
from methods.options import OptionError, check_at_least, check_range
from methods.registry import register_method
from methods.selection import kth_largest, pixel_cross_entropy, retention, symmetric_kl

#: The authors' SGD (``spemj01.yaml``; weight decay from ``lib/configs/config.py``).
AUTHORS_SGD = {"lr": 5e-3, "momentum": 0.99, "weight_decay": 1e-4}
#: Clamp of the smoothed probabilities in the selection criterion.
PROB_CLAMP = 1e-6
#: Bounds of the foreground class weight (authors' ``CELoss2.compute_class_weights``).
MAX_FG_WEIGHT = 1e6
#: Images per chunk of the training-set superpixel means (bounds the memory of the (image, segment) sums).
REFINE_CHUNK = 64


def superpixel_means(values: torch.Tensor, superpixels: torch.Tensor) -> torch.Tensor:
    """Each pixel's value replaced by the mean over its (image, superpixel) segment; shapes ``(B, *spatial)``.

    Superpixel labels start at 0 per image and are below the image's pixel count (SLIC labels are consecutive),
    so ``image · pixels + label`` keys every segment without reading the largest label (no host sync).
    """
    batch_size, pixels = values.shape[0], values[0].numel()
    keys = (torch.arange(batch_size, device=values.device).view(-1, 1) * pixels
            + superpixels.reshape(batch_size, -1).long()).reshape(-1)
    sums = torch.zeros(batch_size * pixels, dtype=torch.float64, device=values.device)
    sums.scatter_add_(0, keys, values.detach().reshape(-1).double())
    counts = torch.bincount(keys, minlength=batch_size * pixels).clamp(min=1)
    return (sums / counts)[keys].to(values.dtype).reshape(values.shape)


def jocor_form(ce1: torch.Tensor, ce2: torch.Tensor, kl: torch.Tensor, co_lambda: float) -> torch.Tensor:
    """``(1 - lambda)(ce1 + ce2) + lambda · kl`` per pixel (kl: both directions summed)."""
    return (1.0 - co_lambda) * (ce1 + ce2) + co_lambda * kl


def smoothed_criterion(logits1: torch.Tensor, logits2: torch.Tensor, labels: torch.Tensor,
                       superpixels: torch.Tensor, co_lambda: float) -> torch.Tensor:
    """The selection criterion on the superpixel-smoothed foreground probabilities, ``(B, *spatial)``."""
    smoothed = []
    for logits in (logits1, logits2):
        fg = torch.softmax(logits.detach().float(), dim=1)[:, 1]
        fg = superpixel_means(fg, superpixels).clamp(PROB_CLAMP, 1.0 - PROB_CLAMP)
        smoothed.append(torch.stack([1.0 - fg, fg], dim=1))
    p1, p2 = smoothed
    index = labels.long().unsqueeze(1)
    ce1, ce2 = -p1.gather(1, index).squeeze(1).log(), -p2.gather(1, index).squeeze(1).log()
    kl = ((p1 - p2) * (p1.log() - p2.log())).sum(dim=1)
    return jocor_form(ce1, ce2, kl, co_lambda)


def classwise_small_loss(criterion: torch.Tensor, labels: torch.Tensor, forget_bg: float,
                         forget_fg: float) -> torch.Tensor:
    """Bool mask: per class (bg, fg by ``labels``), the pixels below the class's k-th largest criterion, with
    ``k = floor(forget · n_class)``; all of a class when k = 0. Over the whole batch, without host reads."""
    flat, classes = criterion.detach().reshape(-1), labels.reshape(-1)
    keep = torch.zeros_like(flat, dtype=torch.bool)
    for cls, forget in ((0, forget_bg), (1, forget_fg)):
        member = classes == cls
        k = torch.floor(forget * member.sum().double()).long()
        threshold = kth_largest(torch.where(member, flat, torch.full_like(flat, -torch.inf)), k)
        keep |= member & ((flat < threshold) | (k == 0))
    return keep.reshape(criterion.shape)


def class_weighted_mean(values: torch.Tensor, labels: torch.Tensor, selected: torch.Tensor) -> tuple[torch.Tensor,
                                                                                                      torch.Tensor]:
    """(``(w Σ_fg v + Σ_bg v) / (w n_fg + n_bg)`` over ``selected``, w) with ``w = n_bg / n_fg`` in [1, 1e6];
    0 when nothing is selected."""
    fg, bg = selected & (labels == 1), selected & (labels == 0)
    n_fg, n_bg = fg.sum().to(values.dtype), bg.sum().to(values.dtype)
    weight = (n_bg / (n_fg + 1e-6)).clamp(1.0, MAX_FG_WEIGHT)
    total = weight * (values * fg).sum() + (values * bg).sum()
    return total / (weight * n_fg + n_bg).clamp(min=1.0), weight


def flip_labels(mean_fg: torch.Tensor, labels: torch.Tensor, share_bg: float,
                share_fg: float) -> torch.Tensor:
    """SP-Guide's refinement: background pixels among the ``floor(share_bg · n_bg)`` most confident (ties with the
    last included) with mean > 0.5 become foreground; foreground pixels among the ``floor(share_fg · n_fg)`` least
    confident with mean < 0.5 become background. ``mean_fg`` and ``labels`` of one shape; returns uint8 labels."""
    flat, current = mean_fg.reshape(-1), labels.reshape(-1).long()
    refined = current.clone()
    for cls, share in ((0, share_bg), (1, share_fg)):
        values = flat[current == cls]
        k = int(share * values.numel())
        if k == 0:
            continue
        if cls == 0:
            threshold = torch.kthvalue(values, values.numel() - k + 1).values
            refined[(current == 0) & (flat >= threshold) & (flat > 0.5)] = 1
        else:
            threshold = torch.kthvalue(values, k).values
            refined[(current == 1) & (flat <= threshold) & (flat < 0.5)] = 0
    return refined.reshape(labels.shape).to(torch.uint8)


@register_method("spguide")
class SPGuideMethod(LabelStoreHooks, SmallLossMethod):
    """SP-Guide: superpixel-smoothed class-wise small-loss co-training and one superpixel label refinement.

    Options (module docstring): ``co_lambda`` (0.65), ``warmup_epochs`` (5), ``patience`` (5),
    ``remember_rate_bg`` / ``remember_rate_fg`` (0 = 1 - tau), ``rem_growth`` (1.1), ``rem_threshold_bg`` (0.95),
    ``rem_threshold_fg`` (0.9), ``authors_optimizer`` (False), ``inference`` (``fused``; the authors: ``net1``).
    """

    def __init__(self, *, co_lambda: float = 0.65, warmup_epochs: int = 5, patience: int = 5,
                 remember_rate_bg: float = 0.0, remember_rate_fg: float = 0.0, rem_growth: float = 1.1,
                 rem_threshold_bg: float = 0.95, rem_threshold_fg: float = 0.9, authors_optimizer: bool = False,
                 **options: Any) -> None:
        if "ramp_epochs" in options:
            raise OptionError("option 'ramp_epochs' is not used by spguide: its ramp is 'warmup_epochs'")
        super().__init__(ramp_epochs=check_at_least("warmup_epochs", warmup_epochs, 1), **options)
        self.co_lambda = check_range("co_lambda", co_lambda, 0.0, 1.0)
        self.patience = check_at_least("patience", patience, 1)
        self.remember_rates = (check_range("remember_rate_bg", remember_rate_bg, 0.0, 1.0),
                               check_range("remember_rate_fg", remember_rate_fg, 0.0, 1.0))
        self.rem_growth = check_range("rem_growth", rem_growth, 1.0)
        self.rem_thresholds = (check_range("rem_threshold_bg", rem_threshold_bg, 0.0, 1.0),
                               check_range("rem_threshold_fg", rem_threshold_fg, 0.0, 1.0))
        self.authors_optimizer = authors_optimizer
        self.store = LabelStore()
        #: Epoch-mean loss gaps, the largest so far, epochs since it was set, the refinement's epoch (None: not
        #: yet) and the remember rates (bg, fg) set by it.
        self.gaps: list[float] = []
        self.best_gap = 0.0
        self.epochs_without_new_max = 0
        self.refined_at: int | None = None
        self.refined_rates: tuple[float, float] | None = None
        self._gap_sum: torch.Tensor | None = None
        self._gap_steps = 0

    def configure_optimizer(self, networks: Sequence[nn.Module], settings: OptimizerSettings) -> torch.optim.Optimizer:
        """The protocol's SGD, or the authors' (lr 5e-3, momentum 0.99, weight decay 1e-4)."""
        if not self.authors_optimizer:
            return super().configure_optimizer(networks, settings)
        return self.sgd(networks, **AUTHORS_SGD)

    def remember(self, tau: float) -> tuple[float, float]:
        """The remember rates (R_bg, R_fg): the refinement's, else the options', else ``1 - tau``."""
        if self.refined_rates is not None:
            return self.refined_rates
        bg, fg = self.remember_rates
        return (bg or 1.0 - tau, fg or 1.0 - tau)

    def forget_rates(self, epoch: int, tau: float) -> tuple[float, float]:
        """(f_bg, f_fg): ``1 - R_c`` ramped over ``warmup_epochs``; constant after the refinement."""
        bg, fg = self.remember(tau)
        if self.refined_rates is not None:
            return (1.0 - bg, 1.0 - fg)
        return (1.0 - retention(epoch, 1.0 - bg, self.ramp_epochs), 1.0 - retention(epoch, 1.0 - fg, self.ramp_epochs))

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """Reset the epoch's gap accumulator."""
        self._gap_sum, self._gap_steps = None, 0

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """Class-weighted JoCoR-form loss over the pixels kept by the superpixel-smoothed class-wise selection."""
        logits1, logits2 = logits
        labels = batch.labels
        forget_bg, forget_fg = self.forget_rates(ctx.epoch, ctx.tau)
        criterion = smoothed_criterion(logits1, logits2, labels, batch.superpixels, self.co_lambda)
        selected = classwise_small_loss(criterion, labels, forget_bg, forget_fg)
        pixel_loss = jocor_form(pixel_cross_entropy(logits1, labels), pixel_cross_entropy(logits2, labels),
                                symmetric_kl(logits1, logits2), self.co_lambda)
        loss, weight = class_weighted_mean(pixel_loss, labels, selected)
        with torch.no_grad():
            unselected, _ = class_weighted_mean(pixel_loss.detach(), labels, ~selected)
            gap = torch.where((~selected).any(), unselected - loss.detach(), -loss.detach())
        self._gap_sum = gap.double() if self._gap_sum is None else self._gap_sum + gap.double()
        self._gap_steps += 1
        logs = {"spguide_loss": loss.detach(), "loss_gap": gap, "fg_weight": weight.detach(),
                "forget_bg": forget_bg, "forget_fg": forget_fg,
                "selected_share": selected.float().mean(), **clean_share_log(selected, batch)}
        return LossOutput(loss=loss, logs=logs)

    def on_epoch_end(self, ctx: EpochContext) -> dict[str, float]:
        """Track the epoch-mean gap; refine the stored labels once it has stalled for ``patience`` epochs."""
        logs: dict[str, float] = {}
        if self._gap_sum is not None:
            gap = (self._gap_sum / self._gap_steps).item()
            self.gaps.append(gap)
            logs["epoch_loss_gap"] = gap
            if self.refined_at is None:
                if gap > self.best_gap:
                    self.best_gap, self.epochs_without_new_max = gap, 0
                else:
                    self.epochs_without_new_max += 1
                if self.epochs_without_new_max >= self.patience:
                    logs.update(self.refine(ctx))
        rates = self.remember(ctx.tau)
        logs.update(refined=float(self.refined_at is not None), remember_bg=rates[0], remember_fg=rates[1])
        return logs

    def refine(self, ctx: EpochContext) -> dict[str, float]:
        """The one label refinement (module docstring) and the remember-rate update; returns its flip shares."""
        logits1, logits2 = ctx.infer_training_set()
        fg = (torch.softmax(logits1.float(), dim=1)[:, 1] + torch.softmax(logits2.float(), dim=1)[:, 1]) / 2
        superpixels = ctx.training_set.superpixels.to(fg.device)
        means = torch.cat([superpixel_means(fg[start:start + REFINE_CHUNK], superpixels[start:start + REFINE_CHUNK])
                           for start in range(0, len(fg), REFINE_CHUNK)])
        current = self.store.labels
        rates = self.remember(ctx.tau)
        refined = flip_labels(means, current.to(means.device), 1.0 - rates[0], 1.0 - rates[1])
        to_fg = ((current == 0) & (refined.to(current.device) == 1)).double().mean().item()
        to_bg = ((current == 1) & (refined.to(current.device) == 0)).double().mean().item()
        self.store.replace(refined)
        self.refined_at = ctx.epoch
        bg, fg = (max(rate, min(self.rem_growth * rate, threshold))
                  for rate, threshold in zip(rates, self.rem_thresholds, strict=True))
        self.refined_rates = (bg, fg)
        return {"flipped_to_fg_share": to_fg, "flipped_to_bg_share": to_bg}

    def get_extra_state(self) -> dict[str, Any]:
        return {"gaps": list(self.gaps), "best_gap": self.best_gap,
                "epochs_without_new_max": self.epochs_without_new_max,
                "refined_at": -1 if self.refined_at is None else self.refined_at,
                "refined_rates": [] if self.refined_rates is None else list(self.refined_rates)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.gaps = list(state["gaps"])
        self.best_gap = float(state["best_gap"])
        self.epochs_without_new_max = int(state["epochs_without_new_max"])
        self.refined_at = None if state["refined_at"] < 0 else int(state["refined_at"])
        rates = state["refined_rates"]
        self.refined_rates = (float(rates[0]), float(rates[1])) if rates else None
