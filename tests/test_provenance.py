"""Provenance: the git commit and versions recorded beside results are the real ones."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

import pytest

from common.provenance import PROJECT_ROOT, git_commit, provenance


def test_commit_is_the_checkout_head() -> None:
    try:
        head = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the project is not a git checkout here")
    assert git_commit()["commit"] == head


def test_outside_git_the_commit_is_none(tmp_path: Path) -> None:
    assert git_commit(tmp_path) == {"commit": None, "dirty": None}


def test_versions_are_the_installed_ones() -> None:
    versions = provenance()["versions"]
    assert versions["torch"] == metadata.version("torch")
    assert versions["snakemake"] == metadata.version("snakemake")
