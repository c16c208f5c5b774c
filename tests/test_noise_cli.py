"""``python -m noise``: a folder of masks in, a folder of noisy masks out; one-line errors, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

REPOSITORY = Path(__file__).resolve().parents[1]


def run_noise(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the command line with the test's interpreter (the project's virtual environment)."""
    return subprocess.run([sys.executable, "-m", "noise", *map(str, arguments)], cwd=REPOSITORY, capture_output=True,
                          text=True, timeout=120, check=False)


def disc(shape: tuple[int, int], radius: float) -> np.ndarray:
    """A centred disc."""
    rows, columns = np.indices(shape)
    return (rows - shape[0] / 2) ** 2 + (columns - shape[1] / 2) ** 2 < radius**2


@pytest.fixture
def mask_folder(tmp_path: Path) -> Path:
    """Masks as users have them: 0/255 PNG, 0/1 PNG, RGB JPEG."""
    folder = tmp_path / "masks"
    folder.mkdir()
    Image.fromarray(disc((40, 50), 12).astype(np.uint8) * 255).save(folder / "a.png")
    Image.fromarray(disc((30, 30), 9).astype(np.uint8)).save(folder / "b.png")
    rgb = np.repeat(disc((36, 44), 14)[..., None], 3, axis=2).astype(np.uint8) * 255
    Image.fromarray(rgb).save(folder / "c.jpg", quality=95)
    return folder


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    """Exit status, a single ``error: ...`` line naming ``text`` on stderr, no traceback."""
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_help_states_the_binarisation_rule() -> None:
    result = run_noise("--help")
    assert result.returncode == 0
    assert "> 127" in result.stdout and "--dilate-erode" in result.stdout and "S_DE" in result.stdout


def test_happy_path_writes_pngs_stats_and_summary(tmp_path: Path, mask_folder: Path) -> None:
    out = tmp_path / "out" / "noisy"
    result = run_noise(mask_folder, out, "--setting", "S_E", "--seed", "4", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in out.iterdir()) == ["a.png", "b.png", "c.png", "stats.csv", "summary.json"]
    for name, shape in [("a", (40, 50)), ("b", (30, 30)), ("c", (36, 44))]:
        values = np.asarray(Image.open(out / f"{name}.png"))
        assert values.shape == shape and set(np.unique(values)) <= {0, 255}
    stats = pd.read_csv(out / "stats.csv")
    assert stats["name"].tolist() == ["a", "b", "c"]
    assert ((stats["dice"] > 0.3) & (stats["dice"] < 1)).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 3 and summary["setting"] == "S_E" and summary["seed"] == 4
    assert summary["parameters"]["theta1"] == 0.8
    assert [path.name for path in out.parent.iterdir()] == ["noisy"]

    again = tmp_path / "again"
    assert run_noise(mask_folder, again, "--setting", "S_E", "--seed", "4").returncode == 0
    for name in ("a.png", "b.png", "c.png", "stats.csv"):
        assert (out / name).read_bytes() == (again / name).read_bytes()


def test_explicit_markov_and_dilate_erode(tmp_path: Path, mask_folder: Path) -> None:
    result = run_noise(mask_folder, tmp_path / "markov", "--markov", "50", "0.5", "0.1", "--theta3", "0.05")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "markov" / "summary.json").read_text())["parameters"]["theta3"] == 0.05
    result = run_noise(mask_folder, tmp_path / "de", "--dilate-erode", "2", "3")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "de" / "summary.json").read_text())["parameters"]["radius"] == [2.0, 3.0]


@pytest.mark.parametrize(("arguments", "text"), [
    (["--setting", "S_X"], "unknown setting 'S_X'"),
    (["--markov", "200", "1.5", "0.05"], "theta1"),
    (["--markov", "200", "a", "0.05"], "invalid float value"),
    (["--dilate-erode", "5", "3"], "radius"),
    (["--setting", "S_R", "--theta3", "0.2"], "--theta3"),
    ([], "one of the arguments"),
])
def test_usage_errors_exit_2(tmp_path: Path, mask_folder: Path, arguments: list[str], text: str) -> None:
    out = tmp_path / "out"
    assert_one_line_error(run_noise(mask_folder, out, *arguments), 2, text)
    assert not out.exists()


def test_input_errors_exit_1_and_leave_nothing(tmp_path: Path, mask_folder: Path) -> None:
    out = tmp_path / "out"
    assert_one_line_error(run_noise(tmp_path / "missing", out, "--setting", "S_R"), 1, "input folder not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a mask")
    assert_one_line_error(run_noise(empty, out, "--setting", "S_R"), 1, "no mask files")

    (mask_folder / "broken.png").write_bytes(b"not a png at all")
    assert_one_line_error(run_noise(mask_folder, out, "--setting", "S_R"), 1, "broken.png: cannot read image")
    (mask_folder / "broken.png").unlink()

    gradient = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (32, 1))
    Image.fromarray(gradient).save(mask_folder / "zz_grey.png")
    assert_one_line_error(run_noise(mask_folder, out, "--setting", "S_R", "--workers", "2"), 1,
                          "zz_grey.png: mask is not binary")
    assert not out.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty", "masks"]


def test_refuses_a_non_empty_output_folder(tmp_path: Path, mask_folder: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert_one_line_error(run_noise(mask_folder, out, "--setting", "S_R"), 1, "not empty")
    assert [path.name for path in out.iterdir()] == ["keep.txt"]


def test_degenerate_noise_is_counted_warned_and_marked_in_table3(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    from evaluation.table3 import build_table3
    from noise.settings import parse_setting
    from noise.simulate import simulate_folder

    masks = tmp_path / "masks"
    masks.mkdir()
    for index in range(8):
        mask = np.zeros((40, 40), dtype=np.uint8)
        mask[18:22, 18:22] = 255
        Image.fromarray(mask).save(masks / f"m{index}.png")
    setting = parse_setting("dilate_erode", {"model": "dilate_erode", "radius": [6, 6]})
    with caplog.at_level("WARNING", logger="noise"):
        summary = simulate_folder(masks, tmp_path / "out", "dilate_erode", setting, seed=0)
    eroded = int((pd.read_csv(tmp_path / "out" / "stats.csv")["dice"] < 0.05).sum())
    assert 0 < eroded < 8 and summary["n_degenerate"] == eroded
    assert f"{eroded} of 8 noisy masks are empty or nearly erased (Dice < 0.05 vs clean)" in caplog.text
    noise_dir = tmp_path / "results" / "noise" / "toy" / "S_DE"
    noise_dir.mkdir(parents=True)
    (noise_dir / "summary.json").write_text(json.dumps({**summary, "setting": "S_DE"}))
    (tmp_path / "prepared" / "toy").mkdir(parents=True)
    (tmp_path / "prepared" / "toy" / "metadata.json").write_text(json.dumps({"synthetic": False}))
    table = build_table3([noise_dir / "summary.json"], prepared_root=tmp_path / "prepared")
    assert table["Degenerate"].tolist() == [f"{eroded} !"]
