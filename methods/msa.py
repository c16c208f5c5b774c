"""MSA baseline (Wu et al., "Medical SAM Adapter", Medical Image Analysis 2025, arXiv 2304.12620), ``"msa"``.

Restated from the paper and spec ``baselines.md`` (section MSA; the authors' code is GPL-3.0 and not used):

- Network: SAM with the ViT-B image encoder (width 768, 12 blocks, 12 heads, global attention at blocks 2, 5, 8,
  11, window 14, relative positions; :mod:`methods.sam_model`) carrying MSA's adapters in every block: a residual
  space adapter after attention and a parallel MLP adapter, ``x + MLP(LN x) + 0.5 · Adapter(LN x)``, Adapter =
  Linear(D → 0.25 D), GELU, Linear back. Trainable: the adapters and the whole mask decoder; the rest of the
  image encoder and the prompt encoder are frozen (``requires_grad`` off, left out of the optimiser).
- Weights: the official SAM ViT-B checkpoint (``sam_vit_b_01ec64.pth``), given as ``sam_checkpoint`` (with an
  optional ``sam_checkpoint_sha256``); it is on no package registry and never downloaded. Position embeddings are
  interpolated to the working size (:mod:`methods.sam_checkpoint`). Without a checkpoint the method is refused at
  config time (:meth:`MSA.check_config`) and at construction, and :meth:`MSA.unavailable_reason` gives the table
  cells' "not run: no SAM checkpoint".
- Input: the engine's 0-255 images (the default ``input_scaling: raw``; the method assumes it), grey images
  repeated to RGB, SAM's pixel normalisation (mean 123.675, 116.28, 103.53; std 58.395, 57.12, 57.375), resized
  bilinearly to ``image_size`` x ``image_size`` (SAM's own resize-longest-side-and-pad is not used: the suite's
  images are square). Output: the decoder's single-mask logits z (``multimask_output=False``, as the authors) at
  ``image_size / 4``, upsampled bilinearly to the input size, as two-class logits ``[0, z]`` (softmax class 1 =
  sigmoid z) for the shared metrics.
- Loss: BCE-with-logits of z against the (noisy) labels with ``pos_weight`` 2 (the authors' ``criterion_G``).
- Prompts: the authors click one positive point sampled from the label mask, at test time from the ground truth,
  which leaks the answer. Default ``prompt: none``, prompt-free (no sparse prompt, the learned no-mask dense
  embedding). ``prompt: click`` samples one foreground pixel of the noisy training label per image
  (``ctx.generator``; an empty mask gives SAM's "not a point" padding only); at test time it needs the test
  labels, which the engine does not give :meth:`predict`: a caller that holds them passes them with
  :meth:`MSA.set_test_labels` before each ``predict``, :meth:`predict` refuses otherwise, and
  :meth:`MSA.check_config` refuses ``prompt: click`` for workflow runs. Captions must flag it as using test labels.
- Optimiser: the shared protocol's SGD over the trainable parameters (default); ``authors_optimizer: true``
  gives the authors' Adam (lr 1e-4, betas 0.9/0.999, no weight decay) with StepLR(10, 0.5), the rate set from
  the epoch at every epoch start so a resumed run matches.
- 2D only (``supports_volumes = False``); 1- or 3-channel images.

Options: ``sam_checkpoint`` (path), ``sam_checkpoint_sha256`` (hex, optional), ``model_size`` (``vit_b``, or
``tiny_test``: width 64, depth 2, 2 heads, global attention at block 1, window 4, decoder width 32, random
weights and no checkpoint needed — for tests only), ``image_size`` (working size, a multiple of 16, default 256,
the suite's 2D working size; SAM's is 1024), ``prompt`` (``none`` | ``click``), ``authors_optimizer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from common.errors import InputError
from methods.base import (
    Batch,
    EpochContext,
    LossOutput,
    Method,
    NetworkFactory,
    OptimizerSettings,
    StepContext,
    class_argmax,
)
from methods.options import OptionError, check_at_least, check_choice
from methods.registry import register_method
from methods.sam_checkpoint import ADAPTER_KEYS, load_sam_checkpoint
from methods.sam_model import PATCH_SIZE, Sam, SamConfig

#: SAM's pixel statistics on the 0-255 RGB scale (``Sam.pixel_mean`` / ``pixel_std``).
PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)
#: The authors' BCE weight of foreground pixels (``pos_weight = torch.ones([1]) * 2``).
POS_WEIGHT = 2.0
#: The authors' Adam learning rate and StepLR(step_size 10, gamma 0.5).
AUTHORS_LR = 1e-4
AUTHORS_STEP_EPOCHS = 10
AUTHORS_GAMMA = 0.5
MODEL_SIZES = ("vit_b", "tiny_test")
PROMPTS = ("none", "click")
TINY_TEST = {"embed_dim": 64, "depth": 2, "num_heads": 2, "global_attn_indexes": (1,), "window_size": 4,
             "out_chans": 32, "decoder_heads": 2, "decoder_mlp_dim": 64, "iou_head_hidden_dim": 32}
NO_CHECKPOINT = ("MSA needs the SAM ViT-B checkpoint: set sam_checkpoint to the path of sam_vit_b_01ec64.pth "
                 "(not downloaded by the suite)")
NOT_RUN = "not run: no SAM checkpoint"
CLICK_IN_WORKFLOW = ("prompt: click needs the test labels at prediction time, which the engine does not give "
                     "the method; use prompt: none")


def _checkpoint_problem(options: dict[str, Any]) -> str | None:
    """Why ``options`` lack a usable checkpoint (none needed for ``model_size: tiny_test``), or None."""
    if options.get("model_size", "vit_b") == "tiny_test":
        return None
    path = options.get("sam_checkpoint", "")
    if not path:
        return NO_CHECKPOINT
    if not Path(str(path)).is_file():
        return f"{NO_CHECKPOINT}; file not found: {path}"
    return None


def click_prompts(labels: torch.Tensor, image_size: int,
                  generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One click per ``(B, H, W)`` label mask: a foreground pixel drawn uniformly, as (x, y) in the
    ``image_size`` working frame, ``(B, 1, 2)``, with point label 1; an empty mask gets label -1 (no point)."""
    batch, height, width = labels.shape
    scores = torch.rand(batch, height * width, generator=generator, device=labels.device)
    foreground = labels.reshape(batch, -1) > 0
    index = torch.where(foreground, scores, -1.0).argmax(dim=1)
    x = (index % width).float() * (image_size / width)
    y = torch.div(index, width, rounding_mode="floor").float() * (image_size / height)
    point_labels = torch.where(foreground.any(dim=1), 1, -1)
    return torch.stack([x, y], dim=-1)[:, None], point_labels[:, None]


class MSANetwork(Sam):
    """SAM with MSA's adapters mapping the engine's ``(B, C, H, W)`` 0-255 images to ``(B, 2, H, W)`` logits."""

    def __init__(self, config: SamConfig) -> None:
        super().__init__(config, adapters=True)
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor, points: torch.Tensor | None = None,
                point_labels: torch.Tensor | None = None) -> torch.Tensor:
        height, width = images.shape[-2:]
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        size = self.config.image_size
        x = (images - self.pixel_mean.to(images.dtype)) / self.pixel_std.to(images.dtype)
        if (height, width) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        z = super().forward(x, points, point_labels)
        z = F.interpolate(z, size=(height, width), mode="bilinear", align_corners=False)
        return torch.cat([torch.zeros_like(z), z], dim=1)


def is_trainable(name: str) -> bool:
    """Whether the parameter ``name`` of an :class:`MSANetwork` is trained: adapters and the mask decoder."""
    return name.startswith("mask_decoder.") or any(part in name for part in ADAPTER_KEYS)


@register_method("msa")
class MSA(Method):
    """Medical SAM Adapter: SAM ViT-B with adapters; adapters and mask decoder trained with weighted BCE."""

    supports_volumes: ClassVar[bool] = False

    def __init__(self, *, sam_checkpoint: str = "", sam_checkpoint_sha256: str = "", model_size: str = "vit_b",
                 image_size: int = 256, prompt: str = "none", authors_optimizer: bool = False,
                 **options: Any) -> None:
        super().__init__(**options)
        self.model_size = check_choice("model_size", model_size, MODEL_SIZES)
        self.prompt = check_choice("prompt", prompt, PROMPTS)
        self.image_size = check_at_least("image_size", image_size, PATCH_SIZE)
        if image_size % PATCH_SIZE:
            raise OptionError(f"option 'image_size' must be a multiple of {PATCH_SIZE}; got {image_size!r}")
        problem = _checkpoint_problem({"model_size": model_size, "sam_checkpoint": sam_checkpoint})
        if problem:
            raise OptionError(f"option 'sam_checkpoint': {problem}")
        self.sam_checkpoint = sam_checkpoint
        self.sam_checkpoint_sha256 = sam_checkpoint_sha256
        self.authors_optimizer = authors_optimizer
        self.register_buffer("pos_weight", torch.tensor(POS_WEIGHT), persistent=False)  # moves with the method
        self.test_labels: torch.Tensor | None = None

    @classmethod
    def check_config(cls, options: dict[str, Any], key: str) -> None:
        """Refuse, before any job, a config entry ``key`` without a usable checkpoint or with ``prompt: click``."""
        problem = _checkpoint_problem(options)
        if problem:
            raise InputError(f"config key {key}.sam_checkpoint: {problem}")
        if options.get("prompt", "none") == "click":
            raise InputError(f"config key {key}.prompt: {CLICK_IN_WORKFLOW}")

    @classmethod
    def unavailable_reason(cls, options: dict[str, Any]) -> str | None:
        """``"not run: no SAM checkpoint"`` when no ``sam_checkpoint`` is configured (a configured path that does not
        exist is an error instead, from :meth:`check_config`)."""
        if options.get("model_size", "vit_b") != "tiny_test" and not options.get("sam_checkpoint"):
            return NOT_RUN
        return None

    @classmethod
    def contract_options(cls) -> dict[str, Any]:
        """The random tiny configuration at 64 pixels (no checkpoint)."""
        return {"model_size": "tiny_test", "image_size": 64}

    def sam_config(self) -> SamConfig:
        """The network's sizes for ``model_size`` at ``image_size``."""
        extra = TINY_TEST if self.model_size == "tiny_test" else {}
        return SamConfig(image_size=self.image_size, **extra)

    def build_networks(self, factory: NetworkFactory) -> list[nn.Module]:
        """One MSANetwork (the backbone is ignored), seeded as network 0, loaded from the checkpoint if one is
        given, with everything but the adapters and the mask decoder frozen."""
        if factory.in_channels not in (1, 3):
            raise InputError(f"method 'msa' takes grey or RGB images (1 or 3 channels); these have "
                             f"{factory.in_channels}")
        factory.seed(0)
        network = MSANetwork(self.sam_config())
        if self.sam_checkpoint:
            load_sam_checkpoint(network, self.sam_checkpoint, self.sam_checkpoint_sha256)
        for name, parameter in network.named_parameters():
            parameter.requires_grad_(is_trainable(name))
        return [network]

    def configure_optimizer(self, networks: Sequence[nn.Module], settings: OptimizerSettings) -> torch.optim.Optimizer:
        """SGD (shared protocol) or the authors' Adam, over the trainable parameters only."""
        params = [parameter for network in networks for parameter in network.parameters() if parameter.requires_grad]
        if self.authors_optimizer:
            return torch.optim.Adam(params, lr=AUTHORS_LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
        return torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)

    def on_epoch_start(self, ctx: EpochContext) -> None:
        """The authors' StepLR(10, 0.5), as a function of the epoch (only with ``authors_optimizer``)."""
        if self.authors_optimizer:
            for group in ctx.optimizer.param_groups:
                group["lr"] = AUTHORS_LR * AUTHORS_GAMMA ** (ctx.epoch // AUTHORS_STEP_EPOCHS)

    def forward_batch(self, networks: Sequence[nn.Module], batch: Batch, ctx: StepContext) -> list[torch.Tensor]:
        """The network's logits, with a click from each training label for ``prompt: click``."""
        (network,) = networks
        if self.prompt == "click":
            return [network(batch.images, *click_prompts(batch.labels, self.image_size, ctx.generator))]
        return [network(batch.images)]

    def loss(self, logits: Sequence[torch.Tensor], batch: Batch, ctx: StepContext) -> LossOutput:
        """BCE-with-logits of z = logit 1 - logit 0 against the labels, foreground weighted by 2."""
        (two_class,) = logits
        z = (two_class[:, 1] - two_class[:, 0]).float()
        loss = F.binary_cross_entropy_with_logits(z, batch.labels.float(), pos_weight=self.pos_weight)
        return LossOutput(loss=loss, logs={"bce": loss.detach()})

    def set_test_labels(self, labels: torch.Tensor) -> None:
        """For ``prompt: click`` only: the ``(B, H, W)`` test labels the next :meth:`predict` clicks in (used once;
        this uses the test labels, and its results must be flagged so)."""
        self.test_labels = labels

    def predict(self, networks: Sequence[nn.Module], images: torch.Tensor) -> torch.Tensor:
        """Argmax of the two-class logits; ``prompt: click`` needs :meth:`set_test_labels` first."""
        (network,) = networks
        if self.prompt == "none":
            return class_argmax(network(images))
        if self.test_labels is None:
            raise InputError(f"method 'msa': {CLICK_IN_WORKFLOW}")
        labels, self.test_labels = self.test_labels.to(images.device), None
        generator = torch.Generator(device=images.device).manual_seed(0)
        return class_argmax(network(images, *click_prompts(labels, self.image_size, generator)))
