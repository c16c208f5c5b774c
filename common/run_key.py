"""One training run's key (data set, setting, variant, seed) and its run folder, mapped both ways in one place."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

from common.errors import InputError

_SEED_FOLDER = re.compile(r"^seed(\d+)$")


class RunKey(NamedTuple):
    """A run's identity; its folder is ``{root}/runs/{dataset}/{setting}/{variant}/seed{seed}``."""

    dataset: str
    setting: str
    variant: str
    seed: int

    def folder(self, root: str | Path = "results") -> Path:
        """The run folder under the results ``root``."""
        return Path(root) / "runs" / self.dataset / self.setting / self.variant / f"seed{self.seed}"

    @classmethod
    def from_folder(cls, folder: str | Path) -> RunKey:
        """The key of a run folder ``.../{dataset}/{setting}/{variant}/seed{N}``; InputError naming it otherwise."""
        path = Path(folder)
        match = _SEED_FOLDER.match(path.name)
        if not match or len(path.parts) < 4:
            raise InputError(f"{path}: not a run folder (expected .../{{dataset}}/{{setting}}/{{variant}}/seed<N>)")
        return cls(path.parent.parent.parent.name, path.parent.parent.name, path.parent.name, int(match.group(1)))

    def as_dict(self) -> dict[str, Any]:
        """The key as ``summary.json`` stores it (``run_key``)."""
        return self._asdict()
