"""ADELE baseline (Liu et al., "Adaptive Early-Learning Correction for Segmentation from Noisy Annotations",
CVPR 2022), spec ``baselines.md`` section ADELE; authors' code github Kangningthu/ADELE (MIT), medical path
``SegThor/brat/train_segthor.py``, ``label_correction.py``, ``SegThor/lib/utils/JSD_loss.py``.

One network. Per step (multi-scale consistency): the network runs on the batch at input scales 1.0, 0.7 and 1.5
(option ``scales``; inputs resized bi-/trilinearly with ``align_corners=True`` as the authors'
``eval_model_at_scale``, logits resized back to the input size); the labels stay at full size.
``CE = mean_s CE(logits_s, y)``; ``m = mean_s softmax(logits_s)`` clamped to ``[1e-3, 1 - 1e-3]``;
``consistency = mean over pixels of mask · sum_s KL(p_s || m)`` with ``mask = max_c m >= rho``;
``loss = (lambda · consistency + CE) / 3`` (spec; ``lambda`` = option ``consistency_weight`` 1, ``rho`` 0.8).

End of every epoch (spec), from ``ctx.infer_training_set()`` (eval mode, no augmentation): the per-class IoU of
the prediction (argmax) against the current stored labels over the whole training set is appended to a history.
For each foreground class not yet being corrected, ``f(t) = a (1 - exp(-t^b / c))`` is fitted to its IoU history
with scipy ``curve_fit`` as the authors' ``label_correction.fit`` (``p0 = (1, 1, 1)``, ``method='trf'``,
``sigma = geomspace(1, 0.1, L)``, bounds a, b in [0, 1], c >= 0), on the time axis ``t = 1..L`` (the epochs
seen). The class starts being corrected (its update epoch) once ``|f'(L) - f'(1)| / f'(1) > r`` (option
``r`` 0.9); ``f'`` decreases for b <= 1, so this is the authors' "current epoch >= first epoch whose relative
slope change exceeds r". The fit needs ``min_fit_points`` (3, the number of curve parameters) IoU values; with
fewer, a failed fit, or a flat curve (f'(1) = 0), the answer is "not yet". Once on, a class stays on.

Correction, as the authors' ``merge_labels_with_skip`` for one foreground class: at the epoch end a class starts
being corrected and then at every epoch end whose 1-based number is a multiple of ``correct_every`` (10, the
authors' ``correct_freq`` windows), the stored label becomes the predicted class wherever the prediction is
confident (probability of the predicted class > ``tau_fg`` 0.7 for a foreground prediction, > ``tau_bg`` 0.7 for
background) and both the current label and the prediction are background or a corrected class; elsewhere the
current label stays. Corrections persist in a per-sample label store (``methods.label_store``) that the next
epochs train on. Logged: ``adele_classes_corrected`` (classes past their update epoch), ``adele_changed_share``
(share of training pixels changed at this epoch end), ``adele_iou_<c>``.

Adaptations and choices, named:
- Scaled sizes are rounded to a multiple of ``size_multiple`` (16, what ``unet_small``/``unet3d_small`` need;
  32 for the smp backbones), at least one multiple: 256 -> 176 and 384; the authors floor ``size · scale``.
- The spec's CE term is the mean of the three CEs on the logits. The authors' ``calc_jsd_multiscale`` sums the
  three CEs of logits multiplied by the softmax of unit scale weights (1/3), then divides by 3 as above.
- Consistency mask: ``mask_rule`` ``pixel`` (default: ``max_c m >= rho`` per pixel, the paper's rule) or
  ``image`` (the authors' code: ``amax`` over classes and all pixels, one mask per image).
- Predictions for the IoU and the correction come from the epoch-end pass without augmentation, not the
  augmented training pass (spec). The authors' plateau cut before the fit (dropping leading epochs whose IoU
  rises by < 0.1) and their class constraint (no foreground written into a label without foreground) are left out,
  as the spec restates neither.
- Optimiser: the shared protocol's; ``authors_optimizer: true`` uses the authors' SGD lr 0.01, momentum 0.99,
  no weight decay (``train_segthor.py``; batch 5 there, the run's batch here).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import OptimizeWarning, curve_fit
from torch import nn

from methods.base import Batch, EpochContext, LossOutput, Method, OptimizerSettings, StepContext, class_argmax
from methods.label_store import LabelStore, LabelStoreHooks
from methods.options import OptionError, check_at_least, check_choice, check_range
from methods.registry import register_method

MASK_RULES = ("pixel", "image")
#: The authors' SGD (``train_segthor.py``): lr, momentum, weight decay.
AUTHORS_SGD = {"lr": 0.01, "momentum": 0.99, "weight_decay": 0.0}
#: Clamp of the scale-mean probabilities m (authors' ``JSD_loss.py``).
MIXTURE_CLAMP = 1e-3


def scaled_sizes(size: Sequence[int], scale: float, multiple: int = 16) -> list[int]:
    """Each side times ``scale``, rounded half up to a multiple of ``multiple``, at least ``multiple``."""
    return [max(multiple, math.floor(side * scale / multiple + 0.5) * multiple) for side in size]


def resize(tensor: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``(B, C, *spatial)`` resized bi-/trilinearly (``align_corners=True``) to ``size``; unchanged if equal."""
    if list(tensor.shape[2:]) == list(size):
        return tensor
    mode = "bilinear" if tensor.dim() == 4 else "trilinear"
    return F.interpolate(tensor, size=list(size), mode=mode, align_corners=True)


def multiscale_consistency(logits: Sequence[torch.Tensor], labels: torch.Tensor, rho: float,
                           mask_rule: str = "pixel") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean CE over the scales, masked consistency ``sum_s KL(p_s || m)`` averaged over pixels, mask)."""
    logits = [item.float() for item in logits]
    ce = torch.stack([F.cross_entropy(item, labels) for item in logits]).mean()
    log_probs = [F.log_softmax(item, dim=1) for item in logits]
    mixture = torch.stack([item.exp() for item in log_probs]).mean(dim=0).clamp(MIXTURE_CLAMP, 1 - MIXTURE_CLAMP)
    log_mixture = mixture.log()
    if mask_rule == "pixel":
        mask = mixture.amax(dim=1) >= rho
    else:
        mask = (mixture.flatten(1).amax(dim=1) >= rho).view(-1, *([1] * (labels.dim() - 1))).expand_as(labels)
    divergence = sum((item.exp() * (item - log_mixture)).sum(dim=1) for item in log_probs)
    return ce, (divergence * mask).mean(), mask


def class_iou(prediction: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[float]:
    """IoU of each class over all pixels (nan where the class is in neither map)."""
    scores = []
    for cls in range(num_classes):
        predicted, labelled = prediction == cls, labels == cls
        union = (predicted | labelled).sum().item()
        scores.append((predicted & labelled).sum().item() / union if union else math.nan)
    return scores


def learning_curve(t: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """``f(t) = a (1 - exp(-t^b / c))``."""
    return a * (1.0 - np.exp(-(t ** b) / c))


def learning_curve_slope(t: np.ndarray | float, a: float, b: float, c: float) -> np.ndarray:
    """``f'(t) = a b / c · t^(b - 1) · exp(-t^b / c)``."""
    t = np.asarray(t, dtype=float)
    return a * b / c * t ** (b - 1.0) * np.exp(-(t ** b) / c)


def relative_slope_change(history: Sequence[float], min_points: int = 3) -> float | None:
    """``|f'(L) - f'(1)| / f'(1)`` of the curve fitted to ``history`` (L values at t = 1..L), or None when the fit
    is not possible (fewer than ``min_points`` values, non-finite values, a failed fit, f'(1) = 0)."""
    values = np.asarray(history, dtype=float)
    if len(values) < min_points or not np.isfinite(values).all():
        return None
    t = np.arange(1, len(values) + 1, dtype=float)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, _ = curve_fit(learning_curve, t, values, p0=(1.0, 1.0, 1.0), method="trf",
                                  sigma=np.geomspace(1.0, 0.1, len(values)), absolute_sigma=True,
                                  bounds=([0.0, 0.0, 0.0], [1.0, 1.0, np.inf]))
    except (RuntimeError, ValueError, OptimizeWarning, FloatingPointError):
        return None
    with np.errstate(all="ignore"):
        first, last = learning_curve_slope(1.0, *params), learning_curve_slope(float(len(values)), *params)
        change = abs(last - first) / abs(first)
    return float(change) if np.isfinite(change) else None


def corrected_labels(probs: torch.Tensor, labels: torch.Tensor, corrected: Sequence[int], tau_fg: float,
                     tau_bg: float) -> torch.Tensor:
    """ADELE's label correction: the predicted class where it is confident and both the current label and the
    prediction are background or a class in ``corrected``; else ``labels``. ``probs`` ``(N, C, *spatial)``."""
    confidence, prediction = probs.max(dim=1)
    labels = labels.long()
    confident = torch.where(prediction == 0, confidence > tau_bg, confidence > tau_fg)
    eligible_label, eligible_prediction = labels == 0, prediction == 0
    for cls in corrected:
        eligible_label |= labels == cls
        eligible_prediction |= prediction == cls
    return torch.where(confident & eligible_label & eligible_prediction, prediction, labels)


@register_method("adele")
class ADELEMethod(LabelStoreHooks, Method):
    """ADELE: multi-scale consistency, per-class early-learning detection, and label correction in a store.

    Options (defaults and their source, module docstring): ``scales`` ("1.0,0.7,1.5", paper/authors),
    ``size_multiple`` (16, the suite's U-Net), ``consistency_weight`` (lambda 1, authors' ``jsd_lambda``), ``rho``
    (0.8), ``mask_rule`` (``pixel`` | ``image``), ``r`` (0.9), ``tau_fg`` / ``tau_bg`` (0.7), ``correct_every``
    (10), ``min_fit_points`` (3), ``authors_optimizer`` (False).
    """

    def __init__(self, *, scales: str = "1.0,0.7,1.5", size_multiple: int = 16, consistency_weight: float = 1.0,
                 rho: float = 0.8, mask_rule: str = "pixel", r: float = 0.9, tau_fg: float = 0.7,
                 tau_bg: float = 0.7, correct_every: int = 10, min_fit_points: int = 3,
                 authors_optimizer: bool = False, **options: Any) -> None:
        super().__init__(**options)
        try:
            self.scales = [float(part) for part in scales.split(",")]
        except ValueError:
            raise OptionError(f"option 'scales' must be comma-separated numbers; got {scales!r}") from None
        if not self.scales or any(not math.isfinite(scale) or scale <= 0 for scale in self.scales):
            raise OptionError(f"option 'scales' must be positive numbers; got {scales!r}")
        self.size_multiple = check_at_least("size_multiple", size_multiple, 1)
        self.consistency_weight = check_range("consistency_weight", consistency_weight, 0.0)
        self.rho = check_range("rho", rho, 0.0, 1.0)
        self.mask_rule = check_choice("mask_rule", mask_rule, MASK_RULES)
        self.r = check_range("r", r, 0.0, 1.0)
        self.tau_fg = check_range("tau_fg", tau_fg, 0.0, 1.0)
        self.tau_bg = check_range("tau_bg", tau_bg, 0.0, 1.0)
        self.correct_every = check_at_least("correct_every", correct_every, 1)
        self.min_fit_points = check_at_least("min_fit_points", min_fit_points, 3)
        self.authors_optimizer = authors_optimizer
        self.store = LabelStore()
        #: Per epoch seen, the IoU of each class against the stored labels; per class, its update epoch or None.
        self.iou_history: list[list[float]] = []
        self.update_epochs: list[int | None] = []

    def configure_optimizer(self, networks: Sequence[nn.Module], settings: OptimizerSettings) -> torch.optim.Optimizer:
        """The protocol's SGD, or the authors' (lr 0.01, momentum 0.99, no weight decay)."""
        if not self.authors_optimizer:
            return super().configure_optimizer(networks, settings)
        return self.sgd(networks, **AUTHORS_SGD)

    def forward_batch(self, networks: Sequence[nn.Module], batch: Batch, ctx: StepContext) -> list[torch.Tensor]:
        """The network's logits at every scale, resized back to the input size."""
        network, size = networks[0], list(batch.images.shape[2:])
        return [resize(network(resize(batch.images, scaled_sizes(size, scale, self.size_multiple))), size)
                for scale in self.scales]

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """``(lambda · consistency + CE) / 3``."""
        ce, consistency, mask = multiscale_consistency(logits, batch.labels, self.rho, self.mask_rule)
        loss = (self.consistency_weight * consistency + ce) / 3.0
        logs = {"ce": ce.detach(), "consistency": consistency.detach(), "consistency_mask_share": mask.float().mean()}
        return LossOutput(loss=loss, logs=logs)

    def on_epoch_end(self, ctx: EpochContext) -> dict[str, float]:
        """IoU history, update-epoch detection per foreground class, and the label correction when due."""
        probs = torch.softmax(ctx.infer_training_set()[0].float(), dim=1)
        num_classes = probs.shape[1]
        if not self.update_epochs:
            self.update_epochs = [None] * num_classes
        current = self.store.labels.long()
        ious = class_iou(class_argmax(probs), current, num_classes)
        self.iou_history.append(ious)
        newly = []
        for cls in range(1, num_classes):
            if self.update_epochs[cls] is None:
                change = relative_slope_change([row[cls] for row in self.iou_history], self.min_fit_points)
                if change is not None and change > self.r:
                    self.update_epochs[cls] = ctx.epoch
                    newly.append(cls)
        corrected = [cls for cls in range(1, num_classes) if self.update_epochs[cls] is not None]
        changed = 0.0
        if corrected and (newly or (ctx.epoch + 1) % self.correct_every == 0):
            changed = self.store.replace(corrected_labels(probs, current, corrected, self.tau_fg,
                                                          self.tau_bg)).item()
        logs = {"adele_classes_corrected": float(len(corrected)), "adele_changed_share": changed}
        logs.update({f"adele_iou_{cls}": score for cls, score in enumerate(ious)})
        return logs

    def get_extra_state(self) -> dict[str, Any]:
        return {"iou_history": [list(row) for row in self.iou_history],
                "update_epochs": [-1 if epoch is None else epoch for epoch in self.update_epochs]}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.iou_history = [list(row) for row in state["iou_history"]]
        self.update_epochs = [None if epoch < 0 else int(epoch) for epoch in state["update_epochs"]]
