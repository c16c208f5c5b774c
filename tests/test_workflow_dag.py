"""The Snakemake workflow itself: lint, dry runs, bad config, and the noise part end to end on embedded data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
SHARED_DATA = ROOT.parent / "shared" / "data"


def snakemake(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [*SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env,
    )


def test_lint_is_clean(tmp_path: Path) -> None:
    result = snakemake("--lint", "--directory", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


def test_dry_run_plans_every_stage(tmp_path: Path) -> None:
    result = snakemake("-n", "--cores", "2", "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    for rule in ("prepare_dataset", "superpixels", "simulate_noise", "distance_maps", "train", "table3",
                 "noise_examples_figure", "method_table", "all"):
        assert rule in out, f"rule {rule} missing from the dry run"


def test_config_typo_is_rejected_naming_the_key(tmp_path: Path) -> None:
    result = snakemake("-n", "--cores", "1", "--directory", str(tmp_path), "--config", "epochz=3")
    assert result.returncode != 0
    assert "epochz" in result.stdout + result.stderr


def test_bad_dataset_path_names_the_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-kvasir"
    result = snakemake("results/prepared/kvasir/data.npz", "--cores", "1", "--directory", str(tmp_path), "--config",
                       f'datasets={{"kvasir": {{"path": "{missing}"}}}}')
    assert result.returncode != 0
    log = (tmp_path / "results" / "logs" / "prepare_dataset" / "kvasir.log").read_text()
    assert str(missing) in log and "Traceback" not in log
    assert not (tmp_path / "results" / "prepared" / "kvasir" / "data.npz").exists()


@pytest.mark.slow
def test_noise_report_end_to_end_on_embedded_data(tmp_path: Path) -> None:
    result = snakemake("--cores", "2", "--directory", str(tmp_path), "noise_report")
    assert result.returncode == 0, result.stderr[-3000:]
    results = tmp_path / "results"
    table = (results / "tables" / "table3.md").read_text()
    assert "synthetic" in table
    for setting in ("S_R", "S_E", "S_DE"):
        assert setting in table
        summary = json.loads((results / "noise" / "synthetic" / setting / "summary.json").read_text())
        assert 0.3 < summary["dice_mean"] < 1.0
    assert (results / "figures" / "noise_examples.png").stat().st_size > 10_000


def test_dry_run_uses_the_default_workflow_profile(tmp_path: Path) -> None:
    result = snakemake("-n", "--cores", "2", "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Using workflow specific profile profiles/default" in result.stdout + result.stderr
def test_paper_profile_dry_run_plans_the_per_setting_r_cp(tmp_path: Path) -> None:
    """Item 2: ``snakemake -n --configfile config/paper.yaml`` with Shenzhen and BU_SUC at small generated fixtures
    plans their S_E GSD-Net runs; the params those jobs get (common.smk's run_parameters) carry r_cp 0.1."""
    import numpy as np
    import yaml
    from PIL import Image
    from snakemake.utils import update_config

    from workflow.planner.targets import method_options

    overlay = {"datasets": {}}
    for dataset in ("shenzhen", "busuc"):
        root = tmp_path / "data" / dataset
        for images, masks in (("images", "masks"), ("images_test", "masks_test")):
            for index in range(2):
                mask = np.zeros((32, 32), dtype=np.uint8)
                mask[8:20, 8 + index:20] = 255
                for folder, array in ((images, np.full((32, 32), 90, dtype=np.uint8)), (masks, mask)):
                    (root / folder).mkdir(parents=True, exist_ok=True)
                    Image.fromarray(array).save(root / folder / f"{dataset}_{index}.png")
        overlay["datasets"][dataset] = {"path": str(root)}
    overlay_path = tmp_path / "fixtures.yaml"
    overlay_path.write_text(yaml.safe_dump(overlay))
    result = snakemake("-n", "--cores", "1", "--directory", str(tmp_path / "work"), "--configfile",
                       str(ROOT / "config" / "paper.yaml"), str(overlay_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for dataset in ("shenzhen", "busuc"):
        assert f"results/runs/{dataset}/S_E/GSD-Net/seed0/summary.json" in result.stdout
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for layer in (yaml.safe_load((ROOT / "config" / "paper.yaml").read_text()), overlay):
        update_config(config, layer)
    assert method_options(config, "GSD-Net", "shenzhen", "S_E")[1]["r_cp"] == 0.1
    assert method_options(config, "GSD-Net", "busuc", "S_E")[1]["r_cp"] == 0.1
    assert "r_cp" not in method_options(config, "GSD-Net", "shenzhen", "S_DE")[1]




def test_prepare_target_builds_only_the_prepared_data_sets(tmp_path: Path) -> None:
    result = snakemake("prepare", "-n", "--cores", "2", "--directory", str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "prepare_dataset" in out
    for rule in ("simulate_noise", "train", "superpixels"):
        assert f"rule {rule}" not in out and f" {rule} " not in out, rule
