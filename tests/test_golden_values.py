"""Golden values: every method and variant trains bit-identically to the values pinned before a refactor.

Each case trains 3 epochs (2 SGD steps each, batch 4) of a tiny generated set through the engine on CPU, one
thread, with the schedules shrunk so that every phase runs (GSD-Net's refinement and knowledge transfer from
epoch 1). Pinned per case: the per-epoch losses and method logs (``repr`` of the floats), the final protocol
Dice and a SHA-256 of every network's final parameters and buffers. A change of the engine, a method or the
data stream that moves any bit fails here; a deliberate numerics change regenerates the file and says so in the
commit:

    python tests/test_golden_values.py --write
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from training.engine import CHECKPOINT_NAME, train
from training.run_config import RunConfig
from training.synthetic_inputs import write_synthetic_inputs

GOLDEN_PATH = Path(__file__).with_name("golden") / "engine_golden.json"
SMALL_LOSS_SCHEDULE = {"ramp_epochs": 2}
GSDNET_SCHEDULE = {"ramp_epochs": 2, "kt_start_epoch": 1, "w_max": 2.5, "w_decay_every": 1}

#: Every method of the suite before the hook refactor, with its documented variants (Table 7 rows, reference-code
#: options, the authors' weightings and reductions), in the NCHW fp32 layout they were pinned in; then the
#: engine's other execution settings (run config overrides), pinned when they were added.
CASES: dict[str, tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], dict[str, Any]]] = {
    "ce": ("ce", {}),
    "gce": ("gce", {"q": 0.7}),
    "rce": ("rce", {}),
    "sce": ("sce", {}),
    "tloss": ("tloss", {}),
    "tloss_image_mean": ("tloss", {"reduction": "image_mean"}),
    "coteaching": ("coteaching", SMALL_LOSS_SCHEDULE),
    "jocor": ("jocor", SMALL_LOSS_SCHEDULE),
    "jocor_authors": ("jocor", {**SMALL_LOSS_SCHEDULE, "weighting": "authors", "co_lambda": 0.3}),
    "gsdnet": ("gsdnet", GSDNET_SCHEDULE),
    "gsdnet_gda_only": ("gsdnet", {**GSDNET_SCHEDULE, "refinement": "none", "knowledge_transfer": False}),
    "gsdnet_pixel_lr": ("gsdnet", {**GSDNET_SCHEDULE, "refinement": "pixel", "knowledge_transfer": False}),
    "gsdnet_sglr": ("gsdnet", {**GSDNET_SCHEDULE, "knowledge_transfer": False}),
    "gsdnet_pixel_kt": ("gsdnet", {**GSDNET_SCHEDULE, "refinement": "pixel"}),
    "gsdnet_no_gda": ("gsdnet", {**GSDNET_SCHEDULE, "gda": False}),
    "gsdnet_reference": ("gsdnet", {**GSDNET_SCHEDULE, "superpixels": "distance_bands", "kt_ce": "double_softmax"}),
    "gsdnet_random_region": ("gsdnet", {**GSDNET_SCHEDULE, "region_rule": "random", "r_cp": 0.1}),
    "ce_channels_last": ("ce", {}, {"memory_format": "channels_last"}),
    "gsdnet_channels_last": ("gsdnet", GSDNET_SCHEDULE, {"memory_format": "channels_last"}),
    "ce_bf16": ("ce", {}, {"memory_format": "channels_last", "precision": "bf16"}),
    "gsdnet_bf16": ("gsdnet", GSDNET_SCHEDULE, {"memory_format": "channels_last", "precision": "bf16"}),
    # the baselines added with the method hooks, pinned later (after issue 15's selection and sum changes, which
    # left their default-run Table 4 cells bit-identical)
    "cdr": ("cdr", {}),
    "idmps": ("idmps", {}),
    "adele": ("adele", {"correct_every": 1}),
    "spguide": ("spguide", {"warmup_epochs": 2, "patience": 1}),
    "rmd": ("rmd", {"ramp_epochs": 2, "rampup_epochs": 2, "deform_start_epoch": 1}),
}


def _state_digest(checkpoint: Path) -> str:
    """SHA-256 over every network's state (names, dtypes, shapes, bytes) in the final checkpoint."""
    payload = torch.load(checkpoint, weights_only=True)
    digest = hashlib.sha256()
    for index, state in enumerate(payload["networks"]):
        for name, tensor in sorted(state.items()):
            digest.update(f"{index}/{name}/{tensor.dtype}/{tuple(tensor.shape)}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def golden_values(case: str, root: Path) -> dict[str, Any]:
    """Train ``case`` on a tiny generated set under ``root``; its per-epoch values and final state digest."""
    method, options, *overrides = CASES[case]
    execution = {"memory_format": "contiguous", **(overrides[0] if overrides else {})}
    prepared, noise = write_synthetic_inputs(root / "inputs", n_train=8, n_test=4, size=32)
    config = RunConfig(prepared_dir=prepared, noise_dir=noise, method=method, method_options=dict(options),
                       epochs=3, batch_size=4, eval_last_k=1, eval_batch_size=4, threads=1, device="cpu",
                       **execution)
    summary = train(config, root / "run", root / "ck", log=lambda _: None, keep_checkpoint=True)
    epochs = pd.read_csv(root / "run" / "epochs.csv").drop(columns=["train_seconds", "eval_seconds"])
    logged = {column: [repr(float(value)) for value in epochs[column]] for column in epochs.columns
              if column not in ("epoch", "dice_batch_mean", "dice_image_mean")}
    return {"epochs": logged, "dice_mean": repr(summary["dice_mean"]),
            "state_sha256": _state_digest(root / "ck" / CHECKPOINT_NAME)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_training_matches_the_pinned_golden_values(case: str, tmp_path: Path) -> None:
    expected = json.loads(GOLDEN_PATH.read_text())[case]
    assert golden_values(case, tmp_path) == expected


def test_every_pinned_case_is_still_tested() -> None:
    assert set(json.loads(GOLDEN_PATH.read_text())) == set(CASES)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: python {sys.argv[0]} --write   (regenerates {GOLDEN_PATH})")
    values = {}
    for name in sorted(CASES):
        with tempfile.TemporaryDirectory() as folder:
            values[name] = golden_values(name, Path(folder))
        print(name, values[name]["dice_mean"], values[name]["state_sha256"][:12])
    GOLDEN_PATH.parent.mkdir(exist_ok=True)
    GOLDEN_PATH.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
