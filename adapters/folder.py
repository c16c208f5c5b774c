"""Generic layout: an images folder and a masks folder (names given as options), files matched by stem; or any
layout, given as glob patterns for images and masks and a rule that derives each file's sample name."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from adapters.base import FolderPair, PairedFilesAdapter, list_names
from adapters.reading import IMAGE_SUFFIXES, is_image_file
from adapters.registry import register_adapter
from common.errors import InputError

#: Default ``name_regex``: the file name without its extension.
STEM_REGEX = r"(?P<name>[^/]+)\.[^./]+$"


@register_adapter("folder")
class FolderAdapter(PairedFilesAdapter):
    """Options ``images`` and ``masks`` (sub-folder names, default "images" and "masks") and ``mask_suffix``; or
    ``image_pattern`` and ``mask_pattern`` with ``name_regex``.

    Folder form: files of any of png, jpg, jpeg, bmp, tif, tiff are matched by stem after ``mask_suffix`` (e.g.
    "_mask") is stripped from mask stems; every mask stem must end with it. ``images`` and ``masks`` may name the
    same folder when ``mask_suffix`` is set: files ending with it are the masks.

    Pattern form: ``image_pattern`` and ``mask_pattern`` are globs relative to the data set's folder (``**``
    recurses, e.g. ``"*/image/*.png"`` and ``"*/mask/*.png"`` for one folder per case); each matched file's sample
    name is group ``name`` of ``name_regex`` searched in its path relative to the folder, written with ``/``
    (default: the file name without extension; ``"^(?P<name>[^/]+)/"``: the case folder), then ``mask_suffix`` is
    stripped from mask names. Two files of one name, a file the regex does not match, an image without a mask (or
    the reverse) and a dangling symbolic link are errors naming the file. No split in the layout: the seeded rule.
    """

    extra_options: ClassVar[dict[str, Any]] = {"images": "images", "masks": "masks", "mask_suffix": "",
                                               "image_pattern": None, "mask_pattern": None, "name_regex": STEM_REGEX}

    def __init__(self, path: str | Path | None = None, **options: Any) -> None:
        super().__init__(path, **options)
        self.images_folder = self.option("images", str)
        self.masks_folder = self.option("masks", str)
        self.mask_suffix = self.option("mask_suffix", str)
        patterns = (self.options["image_pattern"], self.options["mask_pattern"])
        if (patterns[0] is None) != (patterns[1] is None):
            raise InputError("adapter 'folder': options 'image_pattern' and 'mask_pattern' go together; set both")
        self.patterns: tuple[str, str] | None = None
        if patterns[0] is not None:
            self.patterns = (self.option("image_pattern", str), self.option("mask_pattern", str))
            try:
                self.name_regex = re.compile(self.option("name_regex", str))
            except re.error as error:
                raise InputError(f"adapter 'folder': option 'name_regex': not a regular expression ({error})") from None
            if "name" not in self.name_regex.groupindex:
                raise InputError("adapter 'folder': option 'name_regex' needs a named group (?P<name>...), got "
                                 f"{self.name_regex.pattern!r}")
        elif self.images_folder == self.masks_folder and not self.mask_suffix:
            raise InputError("adapter 'folder': options 'images' and 'masks' name the same folder "
                             f"({self.images_folder!r}); set option 'mask_suffix' to tell masks apart")

    def folder_pairs(self) -> list[FolderPair]:
        """The one pair ``{images}/`` and ``{masks}/``."""
        return [FolderPair(self.root / self.images_folder, self.root / self.masks_folder, None)]

    def _matched(self, pattern: str, suffix: str) -> dict[str, Path]:
        """``{sample name: file}`` for the image files matching ``pattern`` (``suffix`` stripped from names)."""
        files: dict[str, Path] = {}
        for path in sorted(self.root.glob(pattern)):
            if not is_image_file(path):
                continue
            relative = path.relative_to(self.root).as_posix()
            found = self.name_regex.search(relative)
            if found is None or not found.group("name"):
                raise InputError(f"{path}: option name_regex {self.name_regex.pattern!r} finds no sample name in "
                                 f"{relative!r}")
            name = found.group("name")
            if suffix:
                if not name.endswith(suffix):
                    raise InputError(f"{path}: sample name {name!r} lacks the mask_suffix {suffix!r}")
                name = name[: len(name) - len(suffix)]
            if name in files:
                raise InputError(f"{path}: sample name {name!r} also given by {files[name]}")
            files[name] = path
        if not files:
            raise InputError(f"{self.root}: no files match {pattern!r} (looked for {', '.join(IMAGE_SUFFIXES)})")
        return files

    @cached_property
    def _index(self) -> dict[str, tuple[Path, Path, str | None]]:
        """``{name: (image file, mask file, None)}``; in the pattern form from the globs, else the folder pair's."""
        if self.patterns is None:
            return super()._index
        images = self._matched(self.patterns[0], "")
        masks = self._matched(self.patterns[1], self.mask_suffix)
        for files, others, what, missing in ((images, masks, "image", "mask"), (masks, images, "mask", "image")):
            paths = sorted(str(files[name].relative_to(self.root)) for name in files.keys() - others.keys())
            if paths:
                raise InputError(f"{self.root}: {len(paths)} {what}(s) without a {missing}: {list_names(paths)}")
        return {name: (images[name], masks[name], None) for name in sorted(images)}
