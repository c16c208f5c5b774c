"""Kvasir-SEG as released: ``images/*.jpg`` and ``masks/*.jpg`` with the same names; no official split."""

from __future__ import annotations

from adapters.base import FolderPair, PairedFilesAdapter
from adapters.registry import register_adapter


@register_adapter("kvasir_seg")
class KvasirSegAdapter(PairedFilesAdapter):
    """Kvasir-SEG release layout; its JPEG masks are binarised by the shared threshold rule (value > 127).

    The release has no split, so the seeded rule applies (30 % test: 700 train / 300 test of 1000, as the paper).
    """

    def folder_pairs(self) -> list[FolderPair]:
        """The one pair ``images/`` and ``masks/``."""
        return [FolderPair(self.root / "images", self.root / "masks", None)]
