"""Loading an official SAM checkpoint (``sam_vit_b_01ec64.pth``, a plain state dict) into a
:class:`methods.sam_model.Sam`.

Keys load by name. The adapters' keys (``space_adapter`` / ``mlp_adapter``) are the only ones allowed to be
missing from the file; any other missing or unexpected key, and any shape that cannot be interpolated, is refused
with one :class:`common.errors.InputError` line naming the key and the file. When the working size differs from
the checkpoint's (1024 pixels, a 64 x 64 patch grid):

- ``image_encoder.pos_embed`` (1, S, S, C) is resized bicubically (``align_corners=False``) to the working grid;
- the relative-position tables ``rel_pos_h`` / ``rel_pos_w`` ((2 S - 1, head_dim)) are resized linearly along
  their rows to the model's length: 2 · (size / 16) - 1 for global-attention blocks; windowed blocks keep
  2 · window - 1, so theirs match unless the window differs.

(The authors' loader keeps only the entries whose shapes match, leaving the mismatched position embeddings at
their initial zeros; this one interpolates them instead.) Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F

from common.errors import InputError
from methods.sam_model import Sam, resize_rel_pos

ADAPTER_KEYS = (".space_adapter.", ".mlp_adapter.")
POS_EMBED_KEY = "image_encoder.pos_embed"


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resize_pos_embed(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """``(1, S, S, C)`` absolute position embedding resized bicubically to ``(1, grid, grid, C)``."""
    if pos_embed.shape[1] == grid and pos_embed.shape[2] == grid:
        return pos_embed
    resized = F.interpolate(pos_embed.permute(0, 3, 1, 2).float(), size=(grid, grid), mode="bicubic",
                            align_corners=False)
    return resized.permute(0, 2, 3, 1).to(pos_embed.dtype)


def _fit(key: str, value: torch.Tensor, target: torch.Tensor, path: Path) -> torch.Tensor:
    """``value`` brought to ``target``'s shape by interpolation where the key allows it, else an InputError."""
    if value.shape == target.shape:
        return value
    if key == POS_EMBED_KEY and value.dim() == 4 and value.shape[0] == 1 and value.shape[1] == value.shape[2] \
            and value.shape[3] == target.shape[3]:
        return resize_pos_embed(value, target.shape[1])
    if key.endswith((".attn.rel_pos_h", ".attn.rel_pos_w")) and value.dim() == 2 and value.shape[1] == target.shape[1]:
        return resize_rel_pos(value.float(), target.shape[0]).to(value.dtype)
    raise InputError(f"SAM checkpoint {path}: key {key} has shape {tuple(value.shape)}, the model needs "
                     f"{tuple(target.shape)}")


def read_state_dict(path: Path, sha256: str = "") -> dict[str, torch.Tensor]:
    """The tensors of the checkpoint at ``path``, after checking it exists and, if ``sha256`` is given, its hash."""
    if not path.is_file():
        raise InputError(f"SAM checkpoint file not found: {path}")
    if sha256:
        actual = file_sha256(path)
        if actual != sha256.lower():
            raise InputError(f"SAM checkpoint {path}: sha256 is {actual}, expected {sha256}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unreadable file is one line for the user
        raise InputError(f"SAM checkpoint {path}: not a readable PyTorch state dict ({error})") from None
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise InputError(f"SAM checkpoint {path}: not a state dict of tensors (SAM's key layout expected)")
    return state


def load_sam_checkpoint(model: Sam, path: str | Path, sha256: str = "") -> None:
    """Load the SAM checkpoint at ``path`` into ``model`` by name, interpolating position embeddings (module
    docstring); adapter keys may be missing, anything else that does not fit is one InputError line."""
    path = Path(path)
    state = read_state_dict(path, sha256)
    target = model.state_dict()
    unexpected = sorted(set(state) - set(target))
    if unexpected:
        raise InputError(f"SAM checkpoint {path}: unexpected key {unexpected[0]} (SAM's key layout expected)")
    missing = sorted(key for key in set(target) - set(state) if not any(part in key for part in ADAPTER_KEYS))
    if missing:
        raise InputError(f"SAM checkpoint {path}: missing key {missing[0]}")
    fitted = {key: _fit(key, value, target[key], path) for key, value in state.items()}
    model.load_state_dict(fitted, strict=False)
