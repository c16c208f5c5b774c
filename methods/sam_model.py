"""The Segment Anything Model (Kirillov et al., ICCV 2023), written for the suite, with optional MSA adapters.

Three parts, named as in the official checkpoints (``sam_vit_b_01ec64.pth``) so that such a state dict loads by
name (:mod:`methods.sam_checkpoint`):

- ``image_encoder``: a ViT on 16x16 patches with an absolute position embedding ``pos_embed`` (1, S, S, C) for the
  S x S patch grid, blocks of windowed attention (window ``window_size``, the grid zero-padded to a multiple of it)
  or global attention (blocks ``global_attn_indexes``), each with decomposed relative positions (tables
  ``rel_pos_h`` / ``rel_pos_w`` of 2·L - 1 rows for L the attended side), and a neck (1x1 conv, LayerNorm2d,
  3x3 conv, LayerNorm2d) to ``out_chans`` channels. LayerNorm eps 1e-6, MLP ratio 4, GELU.
- ``prompt_encoder``: random-Fourier positional encoding of point coordinates, point embeddings (positive,
  negative, two box corners), the "not a point" padding embedding, a mask down-scaler, and ``no_mask_embed``,
  the dense embedding used when no mask is given. Only point prompts are implemented; no prompt gives an empty
  sparse embedding.
- ``mask_decoder``: a two-way transformer (token self-attention, token-to-image and image-to-token cross
  attention with the channel count halved, ReLU MLP) over the image embedding plus an IoU token and four mask
  tokens; masks are the hypernetwork MLPs' products with the image embedding up-scaled 4x.

MSA adapters (Wu et al., Medical SAM Adapter): with ``adapters=True`` every encoder block gains a residual
``space_adapter`` after attention, ``x + Adapter(x)``, and an ``mlp_adapter`` in parallel with the MLP,
``x + MLP(LN x) + 0.5 · Adapter(LN x)``; Adapter = Linear(D → 0.25 D), GELU, Linear back (PyTorch default
initialisation). Their keys are the only ones an official checkpoint lacks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

PATCH_SIZE = 16
#: MSA's adapter bottleneck (``mlp_ratio=0.25``) and the scale of the parallel MLP adapter (``scale=0.5``).
ADAPTER_RATIO = 0.25
MLP_ADAPTER_SCALE = 0.5
#: Masks the decoder predicts besides the single-mask output (SAM's ``num_multimask_outputs``).
MULTIMASK_OUTPUTS = 3


@dataclass(frozen=True)
class SamConfig:
    """Sizes of a SAM: the encoder (``embed_dim``, ``depth``, ``num_heads``, ``global_attn_indexes``,
    ``window_size``, ``out_chans``), the working ``image_size`` (a multiple of 16), the decoder (its width is
    ``out_chans``; ``decoder_heads``, ``decoder_mlp_dim``, ``iou_head_hidden_dim``) and ``mask_in_chans``.
    Defaults: ViT-B (SAM's ``build_sam_vit_b``) at the 1024 pixels of the checkpoint."""

    image_size: int = 1024
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    window_size: int = 14
    out_chans: int = 256
    decoder_heads: int = 8
    decoder_mlp_dim: int = 2048
    iou_head_hidden_dim: int = 256
    mask_in_chans: int = 16

    @property
    def grid(self) -> int:
        """Side of the patch grid (the image embedding)."""
        return self.image_size // PATCH_SIZE


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a ``(B, C, H, W)`` map (eps 1e-6)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class MLPBlock(nn.Module):
    """``lin2(act(lin1(x)))``."""

    def __init__(self, dim: int, hidden: int, act: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.act(self.lin1(x)))


class Adapter(nn.Module):
    """MSA's bottleneck adapter: Linear(D → ratio·D), GELU, Linear back; ``residual`` adds the input."""

    def __init__(self, dim: int, residual: bool, ratio: float = ADAPTER_RATIO) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.down = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.up = nn.Linear(hidden, dim)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.up(self.act(self.down(x)))
        return x + out if self.residual else out


def resize_rel_pos(table: torch.Tensor, length: int) -> torch.Tensor:
    """A relative-position table ``(L, C)`` resized linearly along its rows to ``(length, C)``."""
    if table.shape[0] == length:
        return table
    resized = F.interpolate(table.t().unsqueeze(0), size=length, mode="linear", align_corners=False)
    return resized.squeeze(0).t()


def relative_positions(q_size: int, k_size: int, table: torch.Tensor) -> torch.Tensor:
    """``(q_size, k_size, C)`` embeddings of the relative offsets between query and key positions along one axis.

    Offsets are measured on the finer of the two grids; the table is resized linearly if its length is not
    ``2 · max(q_size, k_size) - 1``.
    """
    table = resize_rel_pos(table, 2 * max(q_size, k_size) - 1)
    q_coords = torch.arange(q_size, device=table.device)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size, device=table.device)[None, :] * max(q_size / k_size, 1.0)
    offsets = q_coords - k_coords + (k_size - 1) * max(q_size / k_size, 1.0)
    return table[offsets.long()]


class Attention(nn.Module):
    """Multi-head self-attention over a ``(B, H, W, C)`` grid with decomposed relative positions."""

    def __init__(self, dim: int, num_heads: int, input_size: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size - 1, head_dim))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size - 1, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, _ = x.shape
        qkv = self.qkv(x).reshape(batch, height * width, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, batch * self.num_heads, height * width, -1).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        rel_h = relative_positions(height, height, self.rel_pos_h)
        rel_w = relative_positions(width, width, self.rel_pos_w)
        grid_q = q.reshape(batch * self.num_heads, height, width, -1)
        bias_h = torch.einsum("bhwc,hkc->bhwk", grid_q, rel_h.to(q.dtype))
        bias_w = torch.einsum("bhwc,wkc->bhwk", grid_q, rel_w.to(q.dtype))
        attn = (attn.view(-1, height, width, height, width) + bias_h[:, :, :, :, None]
                + bias_w[:, :, :, None, :]).view(-1, height * width, height * width)
        out = attn.softmax(dim=-1) @ v
        out = out.view(batch, self.num_heads, height, width, -1).permute(0, 2, 3, 1, 4).reshape(batch, height,
                                                                                                  width, -1)
        return self.proj(out)


def window_partition(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """``(B, H, W, C)`` zero-padded to multiples of ``window`` and cut into ``(B·n, window, window, C)``; returns
    the windows and the padded size."""
    batch, height, width, channels = x.shape
    pad_h, pad_w = (-height) % window, (-width) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    padded_h, padded_w = height + pad_h, width + pad_w
    x = x.view(batch, padded_h // window, window, padded_w // window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, channels), (padded_h, padded_w)


def window_unpartition(windows: torch.Tensor, window: int, padded: tuple[int, int],
                       size: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`, cropped back to ``size``."""
    padded_h, padded_w = padded
    batch = windows.shape[0] // (padded_h * padded_w // window // window)
    x = windows.view(batch, padded_h // window, padded_w // window, window, window, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(batch, padded_h, padded_w, -1)
    return x[:, :size[0], :size[1]]


class Block(nn.Module):
    """A ViT block (windowed attention when ``window_size`` > 0, else global), with MSA's adapters when
    ``adapters``."""

    def __init__(self, dim: int, num_heads: int, window_size: int, grid: int, adapters: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, window_size if window_size > 0 else grid)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLPBlock(dim, dim * 4)
        self.window_size = window_size
        self.space_adapter = Adapter(dim, residual=True) if adapters else None
        self.mlp_adapter = Adapter(dim, residual=False) if adapters else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            size = (x.shape[1], x.shape[2])
            windows, padded = window_partition(x, self.window_size)
            x = window_unpartition(self.attn(windows), self.window_size, padded, size)
        else:
            x = self.attn(x)
        if self.space_adapter is not None:
            x = self.space_adapter(x)
        x = shortcut + x
        normed = self.norm2(x)
        x = x + self.mlp(normed)
        if self.mlp_adapter is not None:
            x = x + MLP_ADAPTER_SCALE * self.mlp_adapter(normed)
        return x


class PatchEmbed(nn.Module):
    """16x16 patches to ``(B, H/16, W/16, C)`` tokens."""

    def __init__(self, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=PATCH_SIZE, stride=PATCH_SIZE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class ImageEncoderViT(nn.Module):
    """SAM's ViT image encoder: ``(B, 3, size, size)`` normalised images to ``(B, out_chans, S, S)``."""

    def __init__(self, config: SamConfig, adapters: bool) -> None:
        super().__init__()
        grid = config.grid
        self.patch_embed = PatchEmbed(3, config.embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, config.embed_dim))
        self.blocks = nn.ModuleList(
            Block(config.embed_dim, config.num_heads,
                  0 if index in config.global_attn_indexes else config.window_size, grid, adapters)
            for index in range(config.depth))
        self.neck = nn.Sequential(
            nn.Conv2d(config.embed_dim, config.out_chans, kernel_size=1, bias=False),
            LayerNorm2d(config.out_chans),
            nn.Conv2d(config.out_chans, config.out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(config.out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.neck(x.permute(0, 3, 1, 2))


class PositionEmbeddingRandom(nn.Module):
    """Random-Fourier positional encoding of coordinates in [0, 1]² (Gaussian matrix of scale 1)."""

    def __init__(self, num_pos_feats: int) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_pos_feats))

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        """``(..., 2)`` normalised (x, y) coordinates to ``(..., 2·num_pos_feats)`` features."""
        projected = 2 * math.pi * ((2 * coords - 1) @ self.positional_encoding_gaussian_matrix.to(coords.dtype))
        return torch.cat([projected.sin(), projected.cos()], dim=-1)

    def forward(self, size: int) -> torch.Tensor:
        """``(C, size, size)`` encoding of the centres of a ``size`` x ``size`` grid."""
        centres = (torch.arange(size, device=self.positional_encoding_gaussian_matrix.device,
                                dtype=torch.float32) + 0.5) / size
        y, x = torch.meshgrid(centres, centres, indexing="ij")
        return self.encode(torch.stack([x, y], dim=-1)).permute(2, 0, 1)


class PromptEncoder(nn.Module):
    """SAM's prompt encoder for point prompts (label 1 positive, 0 negative, -1 padding) and the no-mask dense
    embedding."""

    def __init__(self, config: SamConfig) -> None:
        super().__init__()
        dim = config.out_chans
        self.image_size = config.image_size
        self.grid = config.grid
        self.pe_layer = PositionEmbeddingRandom(dim // 2)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, dim)
        quarter = config.mask_in_chans // 4
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, quarter, kernel_size=2, stride=2), LayerNorm2d(quarter), nn.GELU(),
            nn.Conv2d(quarter, config.mask_in_chans, kernel_size=2, stride=2), LayerNorm2d(config.mask_in_chans),
            nn.GELU(), nn.Conv2d(config.mask_in_chans, dim, kernel_size=1))
        self.no_mask_embed = nn.Embedding(1, dim)

    def dense_pe(self) -> torch.Tensor:
        """``(1, C, S, S)`` positional encoding of the image embedding's grid."""
        return self.pe_layer(self.grid).unsqueeze(0)

    def forward(self, batch: int, points: torch.Tensor | None = None,
                point_labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sparse ``(B, N, C)`` and dense ``(B, C, S, S)`` embeddings; ``points`` ``(B, N, 2)`` are (x, y) pixel
        coordinates in the working frame, ``point_labels`` ``(B, N)``. Without points the sparse embedding is
        empty; with points a padding point is appended, as SAM does without a box."""
        weight = self.no_mask_embed.weight
        dense = weight.reshape(1, -1, 1, 1).expand(batch, -1, self.grid, self.grid)
        if points is None:
            return weight.new_zeros(batch, 0, weight.shape[1]), dense
        points = torch.cat([points + 0.5, points.new_zeros(batch, 1, 2)], dim=1)
        point_labels = torch.cat([point_labels, -point_labels.new_ones(batch, 1)], dim=1)
        sparse = self.pe_layer.encode(points / self.image_size)
        labels = point_labels[..., None]
        sparse = torch.where(labels == -1, self.not_a_point_embed.weight.to(sparse.dtype), sparse)
        sparse = sparse + (labels == 0) * self.point_embeddings[0].weight + (labels == 1) * self.point_embeddings[
            1].weight
        return sparse, dense


class DecoderAttention(nn.Module):
    """Attention of the mask decoder, with the internal width ``dim // downsample``."""

    def __init__(self, dim: int, num_heads: int, downsample: int = 1) -> None:
        super().__init__()
        internal = dim // downsample
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, internal)
        self.k_proj = nn.Linear(dim, internal)
        self.v_proj = nn.Linear(dim, internal)
        self.out_proj = nn.Linear(internal, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, channels = x.shape
        return x.reshape(batch, tokens, self.num_heads, channels // self.num_heads).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q, k, v = self._heads(self.q_proj(q)), self._heads(self.k_proj(k)), self._heads(self.v_proj(v))
        attn = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2)
        return self.out_proj(out.reshape(out.shape[0], out.shape[1], -1))


class TwoWayAttentionBlock(nn.Module):
    """Token self-attention, token-to-image cross attention, ReLU MLP, image-to-token cross attention; each
    followed by a LayerNorm. The first block adds no positional encoding to the tokens' self-attention."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, skip_first_layer_pe: bool) -> None:
        super().__init__()
        self.self_attn = DecoderAttention(dim, num_heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = DecoderAttention(dim, num_heads, downsample=2)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLPBlock(dim, mlp_dim, act=nn.ReLU)
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = DecoderAttention(dim, num_heads, downsample=2)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, query_pe: torch.Tensor,
                key_pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        q, k = queries + query_pe, keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(q, k, keys))
        queries = self.norm3(queries + self.mlp(queries))
        q, k = queries + query_pe, keys + key_pe
        keys = self.norm4(keys + self.cross_attn_image_to_token(k, q, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    """SAM's two-way transformer (two blocks) and the final token-to-image attention."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, depth: int = 2) -> None:
        super().__init__()
        self.layers = nn.ModuleList(TwoWayAttentionBlock(dim, num_heads, mlp_dim, skip_first_layer_pe=index == 0)
                                    for index in range(depth))
        self.final_attn_token_to_image = DecoderAttention(dim, num_heads, downsample=2)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(self, image: torch.Tensor, image_pe: torch.Tensor,
                tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keys = image.flatten(2).transpose(1, 2)
        key_pe = image_pe.flatten(2).transpose(1, 2)
        queries = tokens
        for layer in self.layers:
            queries, keys = layer(queries, keys, tokens, key_pe)
        queries = queries + self.final_attn_token_to_image(queries + tokens, keys + key_pe, keys)
        return self.norm_final_attn(queries), keys


class MLP(nn.Module):
    """``num_layers`` Linear layers with ReLU between them."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims, [*dims[1:], out_dim], strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, layer in enumerate(self.layers):
            x = layer(x) if index == len(self.layers) - 1 else F.relu(layer(x))
        return x


class MaskDecoder(nn.Module):
    """SAM's mask decoder: ``(B, 1, 4S, 4S)`` single-mask logits (mask token 0) and IoU predictions."""

    def __init__(self, config: SamConfig) -> None:
        super().__init__()
        dim = config.out_chans
        self.transformer = TwoWayTransformer(dim, config.decoder_heads, config.decoder_mlp_dim)
        self.num_mask_tokens = MULTIMASK_OUTPUTS + 1
        self.iou_token = nn.Embedding(1, dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(dim, dim // 4, kernel_size=2, stride=2), LayerNorm2d(dim // 4), nn.GELU(),
            nn.ConvTranspose2d(dim // 4, dim // 8, kernel_size=2, stride=2), nn.GELU())
        self.output_hypernetworks_mlps = nn.ModuleList(MLP(dim, dim, dim // 8, 3)
                                                       for _ in range(self.num_mask_tokens))
        self.iou_prediction_head = MLP(dim, config.iou_head_hidden_dim, self.num_mask_tokens, 3)

    def forward(self, image_embedding: torch.Tensor, image_pe: torch.Tensor, sparse: torch.Tensor,
                dense: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = image_embedding.shape[0]
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        tokens = torch.cat([output_tokens.unsqueeze(0).expand(batch, -1, -1).to(sparse.dtype), sparse], dim=1)
        src = image_embedding + dense
        pos = image_pe.expand(batch, -1, -1, -1)
        hidden, src = self.transformer(src, pos, tokens)
        mask_tokens = hidden[:, 1:1 + self.num_mask_tokens]
        channels, side = image_embedding.shape[1], image_embedding.shape[2]
        upscaled = self.output_upscaling(src.transpose(1, 2).reshape(batch, channels, side, side))
        hyper = torch.stack([mlp(mask_tokens[:, index]) for index, mlp in enumerate(self.output_hypernetworks_mlps)],
                            dim=1)
        up_batch, up_channels, height, width = upscaled.shape
        masks = (hyper @ upscaled.reshape(up_batch, up_channels, height * width)).view(batch, -1, height, width)
        return masks[:, :1], self.iou_prediction_head(hidden[:, 0])[:, :1]


class Sam(nn.Module):
    """SAM's three parts; :meth:`forward` maps normalised ``(B, 3, size, size)`` images (and optional point
    prompts) to ``(B, 1, size/4, size/4)`` single-mask logits."""

    def __init__(self, config: SamConfig, adapters: bool = False) -> None:
        super().__init__()
        if config.image_size % PATCH_SIZE:
            raise ValueError(f"SAM's image size must be a multiple of {PATCH_SIZE}; got {config.image_size}")
        self.config = config
        self.image_encoder = ImageEncoderViT(config, adapters)
        self.prompt_encoder = PromptEncoder(config)
        self.mask_decoder = MaskDecoder(config)

    def forward(self, images: torch.Tensor, points: torch.Tensor | None = None,
                point_labels: torch.Tensor | None = None) -> torch.Tensor:
        embedding = self.image_encoder(images)
        sparse, dense = self.prompt_encoder(images.shape[0], points, point_labels)
        masks, _ = self.mask_decoder(embedding, self.prompt_encoder.dense_pe().to(embedding.dtype),
                                     sparse.to(embedding.dtype), dense.to(embedding.dtype))
        return masks
