"""The README's worked example of adding a baseline really registers and trains through the engine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from methods import registry
from training.engine import train
from training.run_config import RunConfig
from training.synthetic_inputs import write_synthetic_inputs

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    section = README.read_text().split("### Adding a baseline", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_readme_baseline_trains_one_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry.METHODS, "_entries", dict(registry.METHODS._entries))
    exec(compile(readme_example(), "README.md", "exec"), {"__name__": "readme_example"})
    assert "bootstrap" in registry.available_methods()
    prepared, noise = write_synthetic_inputs(tmp_path / "inputs", n_train=8, n_test=4, size=32)
    config = RunConfig(prepared_dir=prepared, noise_dir=noise, method="bootstrap", method_options={"beta": 0.9},
                       epochs=1, batch_size=4, eval_last_k=1, threads=1)
    clipped = []
    clip = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda *args, **kwargs: clipped.append(1) or clip(*args,
                                                                                                           **kwargs))
    summary = train(config, tmp_path / "run", tmp_path / "checkpoint", log=lambda line: None)
    assert len(clipped) == 2  # the after-backward hook ran once per step: 8 images / batch 4
    assert 0.0 <= summary["dice_mean"] <= 1.0
    assert "bootstrap" in (tmp_path / "run" / "epochs.csv").read_text().splitlines()[0]
