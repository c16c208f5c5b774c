"""Provenance recorded beside every result: the project's git commit, package versions and the machine."""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("numpy", "scipy", "scikit-image", "pandas", "torch", "segmentation-models-pytorch", "snakemake")


def git_commit(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The commit of the project checkout and whether its tracked files differ from it (None outside git)."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages results depend on (None when one is not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


@functools.cache
def provenance() -> dict[str, Any]:
    """Git commit, package versions and host, computed once per process."""
    return {
        "git": git_commit(),
        "versions": package_versions(),
        "host": {"name": socket.gethostname(), "machine": platform.machine(), "processor": platform.processor(),
                 "platform": platform.platform()},
    }
