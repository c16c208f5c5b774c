"""JSRT chest X-rays with SCR organ masks: ``images_{train,val,test}/``, ``{organ}_gts_{train,val,test}/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from adapters.base import SPLITS, FolderPair, PairedFilesAdapter
from adapters.registry import register_adapter
from common.errors import InputError

#: Organs with clean masks in the layout.
JSRT_ORGANS = ("lung", "heart", "clavicle")


@register_adapter("jsrt")
class JsrtAdapter(PairedFilesAdapter):
    """The JSRT/SCR layout (PNG, 256x256 grey); option ``organ`` in lung, heart, clavicle (default lung).

    The split (train/val/test) comes from the folders. The images are stored with inverted intensity (bones dark)
    and are kept exactly as stored. The published noisy-mask folders (``lung_180_...`` etc.) are ignored.
    """

    extra_options: ClassVar[dict[str, Any]] = {"organ": "lung"}

    def __init__(self, path: str | Path | None = None, **options: Any) -> None:
        super().__init__(path, **options)
        self.organ = self.option("organ", str)
        if self.organ not in JSRT_ORGANS:
            raise InputError(f"adapter 'jsrt': option 'organ' must be one of {', '.join(JSRT_ORGANS)}, "
                             f"got {self.organ!r}")

    def folder_pairs(self) -> list[FolderPair]:
        """``images_{split}/`` with ``{organ}_gts_{split}/`` for train, val and test."""
        return [FolderPair(self.root / f"images_{split}", self.root / f"{self.organ}_gts_{split}", split)
                for split in SPLITS]
