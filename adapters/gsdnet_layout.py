"""The GSD-Net authors' data layout: ``images/`` + ``masks/`` (train), ``images_test/`` + ``masks_test/`` (test)."""

from __future__ import annotations

from adapters.base import FolderPair, PairedFilesAdapter
from adapters.registry import register_adapter


@register_adapter("gsdnet")
class GsdNetLayoutAdapter(PairedFilesAdapter):
    """One data set folder of the GSD-Net release (e.g. ``data/Kvasir``); the split comes from the folders.

    Images and masks are matched by file stem. The release's other folders (``images_SLIC``, the simulated noise
    ``masks_200_...`` and ``masks_DE``) are ignored: the suite makes its own superpixels and noise.
    """

    def folder_pairs(self) -> list[FolderPair]:
        """Training pair ``images/``, ``masks/`` and test pair ``images_test/``, ``masks_test/``."""
        return [
            FolderPair(self.root / "images", self.root / "masks", "train"),
            FolderPair(self.root / "images_test", self.root / "masks_test", "test"),
        ]
