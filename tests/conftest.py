"""Markers registered beside those in pyproject.toml (which runs pytest with --strict-markers)."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slurm: starts a real single-node SLURM (root, Debian); runs only with RUN_SLURM_TESTS=1"
    )
