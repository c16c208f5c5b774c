"""Kvasir-SEG as released: ``images/*.jpg`` and ``masks/*.jpg`` with the same names; no official split."""

from __future__ import annotations

from typing import Any, ClassVar

from adapters.base import FolderPair, PairedFilesAdapter
from adapters.registry import register_adapter
from common.errors import InputError


@register_adapter("kvasir_seg")
class KvasirSegAdapter(PairedFilesAdapter):
    """Kvasir-SEG release layout; its JPEG masks are binarised by the shared threshold rule (value > 127).

    The release has no split, so the seeded rule applies (30 % test: 700 train / 300 test of 1000, as the paper).
    Option ``max_images`` (0: all) keeps only the first N samples in name order, for smoke runs.
    """

    extra_options: ClassVar[dict[str, Any]] = {"max_images": 0}

    def folder_pairs(self) -> list[FolderPair]:
        """The one pair ``images/`` and ``masks/``."""
        return [FolderPair(self.root / "images", self.root / "masks", None)]

    def sample_names(self) -> list[str]:
        """Sorted sample names, the first ``max_images`` of them when that option is set."""
        limit = self.option("max_images", int)
        if limit < 0:
            raise InputError(f"adapter {self.registry_name!r}: option 'max_images' must be >= 0, got {limit}")
        names = super().sample_names()
        return names[:limit] if limit else names
