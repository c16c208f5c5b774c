"""Per-sample random streams for label noise (docs/architecture.md, "Noise for one (dataset, setting)")."""

from __future__ import annotations

import hashlib
import json


def sample_seed(dataset: str, setting: str, name: str, seed: int) -> int:
    """A 64-bit seed from SHA-256 of ``(dataset, setting, name, seed)``.

    Each sample's stream depends only on these four values, so adding or removing a file changes no other sample's
    noise. Use as ``numpy.random.default_rng(sample_seed(...))``.
    """
    key = json.dumps([str(dataset), str(setting), str(name), int(seed)], ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
