"""Generic layout: an images folder and a masks folder (names given as options), files matched by stem."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from adapters.base import FolderPair, PairedFilesAdapter
from adapters.registry import register_adapter
from common.errors import InputError


@register_adapter("folder")
class FolderAdapter(PairedFilesAdapter):
    """Options ``images`` and ``masks`` (sub-folder names, default "images" and "masks") and ``mask_suffix``.

    Files of any of png, jpg, jpeg, bmp, tif, tiff are matched by stem after ``mask_suffix`` (e.g. "_mask") is
    stripped from mask stems; every mask stem must end with it. ``images`` and ``masks`` may name the same folder
    when ``mask_suffix`` is set: files ending with it are the masks. No split in the layout: the seeded rule applies.
    """

    extra_options: ClassVar[dict[str, Any]] = {"images": "images", "masks": "masks", "mask_suffix": ""}

    def __init__(self, path: str | Path | None = None, **options: Any) -> None:
        super().__init__(path, **options)
        self.images_folder = self.option("images", str)
        self.masks_folder = self.option("masks", str)
        self.mask_suffix = self.option("mask_suffix", str)
        if self.images_folder == self.masks_folder and not self.mask_suffix:
            raise InputError("adapter 'folder': options 'images' and 'masks' name the same folder "
                             f"({self.images_folder!r}); set option 'mask_suffix' to tell masks apart")

    def folder_pairs(self) -> list[FolderPair]:
        """The one pair ``{images}/`` and ``{masks}/``."""
        return [FolderPair(self.root / self.images_folder, self.root / self.masks_folder, None)]
