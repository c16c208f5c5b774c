"""The report captions' run description: read from the run summaries when printed, ignored by rerun triggers."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from evaluation.run_description import RunDescription, describe_runs, run_summary_paths


def _run(root: Path, dataset: str, setting: str, variant: str, seed: int, device: str, **extra: object) -> Path:
    folder = root / "results" / "runs" / dataset / setting / variant / f"seed{seed}"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"seed": seed, "config": {"epochs": 7}, "backbone": "unet_small",
                                                     "device": device, "device_type": "cpu", "threads": 1,
                                                     "execution": "channels_last, fp32", **extra}))
    return folder


def test_the_description_names_what_was_run(tmp_path: Path) -> None:
    first = _run(tmp_path, "kvasir", "S_R", "CE", 0, "AMD EPYC")
    second = _run(tmp_path, "kvasir", "S_E", "GSD-Net", 1, "NVIDIA H100", num_networks=2, inference="fused")
    third = _run(tmp_path, "kvasir", "S_E", "JoCoR", 0, "AMD EPYC", num_networks=2, inference="net1")
    noise = tmp_path / "results" / "noise" / "kvasir" / "S_R" / "summary.json"
    inputs = [first / "summary.json", second / "per_image.csv", third / "summary.json", noise]
    assert run_summary_paths(inputs) == sorted([first / "summary.json", second / "summary.json",
                                                third / "summary.json"])
    text = describe_runs(inputs)
    assert text.startswith("Computed from 3 training runs: data sets kvasir; label settings S_E, S_R; variants CE, "
                           "GSD-Net, JoCoR; seeds 0, 1; epochs 7; backbones unet_small; inference of the two-network "
                           "methods: fused (argmax of the summed logits) (GSD-Net); network 1 alone (JoCoR); "
                           "execution channels_last, fp32; hardware ")
    assert "AMD EPYC (cpu, 1 threads)" in text and "NVIDIA H100 (cpu, 1 threads)" in text


def test_the_description_is_read_when_printed(tmp_path: Path) -> None:
    folder = tmp_path / "results" / "runs" / "toy" / "S_R" / "CE" / "seed0"
    description = RunDescription([folder / "summary.json"])
    assert str(description) == "runs not finished yet"
    _run(tmp_path, "toy", "S_R", "CE", 0, "AMD EPYC")
    assert "1 training runs" in str(description)
    assert repr(description) == "RunDescription(1 input files)"
    assert str(pickle.loads(pickle.dumps(description))) == str(description)
    assert describe_runs([tmp_path / "results" / "noise" / "toy" / "S_R" / "summary.json"]) == ""
