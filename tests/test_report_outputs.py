"""Table 9, Fig. 11's table and figure, boundary metrics and the qualitative panel from tiny results trees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.errors import InputError
from evaluation.annotation_ratio import build_annotation_ratio_table, write_annotation_ratio_table
from evaluation.boundary import boundary_frame, build_boundary_table, image_scores, write_boundary_table
from evaluation.noise_sweep import write_noise_sweep
from evaluation.qualitative import choose_test_images, illustrative_noisy_mask, qualitative_figure
from evaluation.runs import aggregate_runs
from noise.simulate import simulate_dataset

FORMATS = ("md", "csv", "tex")


def write_run(root: Path, dataset: str, setting: str, variant: str, seed: int, dice: float, std: float,
              predictions: dict[str, np.ndarray] | None = None) -> Path:
    folder = root / "runs" / dataset / setting / variant / f"seed{seed}"
    folder.mkdir(parents=True)
    summary = {"dice_mean": dice, "dice_std": std, "seed": seed, "config": {"epochs": 3}, "device": "toy cpu",
               "n_train": 8}
    (folder / "summary.json").write_text(json.dumps(summary))
    if predictions is not None:
        np.savez(folder / "predictions.npz", masks=np.stack(list(predictions.values())),
                 names=np.array(list(predictions)))
    return folder


def paths(root: Path, stem: str) -> dict[str, Path]:
    return {fmt: root / f"{stem}.{fmt}" for fmt in FORMATS}


def test_table9_compares_the_paper_variant_with_the_paper(tmp_path: Path) -> None:
    cells = [{"dataset": "kvasir", "variant": "GSD-Net", "column": "clean 100%", "setting": "clean",
              "run_variant": "GSD-Net"},
             {"dataset": "kvasir", "variant": "GSD-Net", "column": "clean 12.5%", "setting": "clean",
              "run_variant": "GSD-Net_frac12p5"},
             {"dataset": "kvasir", "variant": "GSD-Net", "column": "noisy S_DE 100%", "setting": "S_DE",
              "run_variant": "GSD-Net"},
             {"dataset": "kvasir", "variant": "CE", "column": "clean 100%", "setting": "clean", "run_variant": "CE"}]
    runs = [write_run(tmp_path, "kvasir", "clean", "GSD-Net", 0, 0.80, 0.01),
            write_run(tmp_path, "kvasir", "clean", "GSD-Net", 1, 0.82, 0.03),
            write_run(tmp_path, "kvasir", "clean", "GSD-Net_frac12p5", 0, 0.50, 0.02),
            write_run(tmp_path, "kvasir", "clean", "GSD-Net_frac12p5", 1, 0.52, 0.02),
            write_run(tmp_path, "kvasir", "S_DE", "GSD-Net", 0, 0.79, 0.005),
            write_run(tmp_path, "kvasir", "S_DE", "GSD-Net", 1, 0.79, 0.005),
            write_run(tmp_path, "kvasir", "clean", "CE", 0, 0.75, 0.01),
            write_run(tmp_path, "kvasir", "clean", "CE", 1, 0.75, 0.01)]
    table = build_annotation_ratio_table(aggregate_runs(runs), cells, "GSD-Net").set_index(["Variant", "Labels"])
    assert table.loc[("GSD-Net", "clean 100%"), "ours"] == "81.00 ± 2.00"
    assert table.loc[("GSD-Net", "clean 100%"), "paper"] == "80.62 ± 1.39"
    assert table.loc[("GSD-Net", "clean 100%"), "diff"] == "+0.38"
    assert table.loc[("GSD-Net", "clean 100%"), "seeds"] == "81.00 ± 1.41 (n=2)"
    assert table.loc[("GSD-Net", "clean 12.5%"), "diff"] == f"{51.0 - 55.93:+.2f}"
    assert table.loc[("GSD-Net", "noisy S_DE 100%"), "paper"] == "79.97 ± 0.53"
    assert table.loc[("CE", "clean 100%"), "paper"] == "—"  # the paper's Table 9 is GSD-Net's
    out = paths(tmp_path, "table9")
    write_annotation_ratio_table(runs, cells, "GSD-Net", out)
    assert "Table 9" in out["md"].read_text() and "epochs 3" in out["md"].read_text()
    assert (pd.read_csv(out["csv"])["diff"] != "—").sum() == 3
    with pytest.raises(InputError, match="no run of GSD-Net_frac50"):
        build_annotation_ratio_table(aggregate_runs(runs), [{**cells[0], "run_variant": "GSD-Net_frac50"}], "x")


def test_table9_stand_in_shows_its_paper_data_set_as_a_reference(tmp_path: Path) -> None:
    cells = [{"dataset": "synthetic", "variant": "GSD-Net", "column": "clean 100%", "setting": "clean",
              "run_variant": "GSD-Net"}]
    runs = [write_run(tmp_path, "synthetic", "clean", "GSD-Net", 0, 0.80, 0.01)]
    out = paths(tmp_path, "table9")
    table = write_annotation_ratio_table(runs, cells, "GSD-Net", out, paper_data_sets={"synthetic": "Kvasir"})
    assert table.loc[0, "Data set"] == "synthetic [Kvasir reference]"
    assert table.loc[0, "paper"] == "80.62 ± 1.39" and table.loc[0, "diff"] == "-0.62"
    assert "synthetic for Kvasir" in out["md"].read_text()
    plain = build_annotation_ratio_table(aggregate_runs(runs), cells, "GSD-Net")
    assert plain.loc[0, "Data set"] == "synthetic" and plain.loc[0, "paper"] == "—"


def write_noise_summary(root: Path, setting: str, dice: float, rate: float) -> Path:
    folder = root / "noise" / "toy" / setting
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"dice_mean": dice, "noise_rate": rate}))
    return folder / "summary.json"


def test_noise_sweep_table_and_figure(tmp_path: Path) -> None:
    sweep = {"dataset": "toy", "base_setting": "S_DE", "parameter": "radius", "values": [[1, 2], [5, 6]],
             "variants": ["CE", "GSD-Net"]}
    settings = ["S_DE_radius_1-2", "S_DE_radius_5-6"]
    noise = {settings[0]: write_noise_summary(tmp_path, settings[0], 0.95, 0.01),
             settings[1]: write_noise_summary(tmp_path, settings[1], 0.70, 0.08)}
    runs = [write_run(tmp_path, "toy", settings[0], "CE", 0, 0.90, 0.01),
            write_run(tmp_path, "toy", settings[0], "GSD-Net", 0, 0.91, 0.01),
            write_run(tmp_path, "toy", settings[1], "CE", 0, 0.60, 0.02),
            write_run(tmp_path, "toy", settings[1], "GSD-Net", 0, 0.80, 0.01)]
    figures = [tmp_path / "fig11.png", tmp_path / "fig11.pdf"]
    frame = write_noise_sweep(runs, noise, sweep, settings, figures, paths(tmp_path, "sweep"))
    gsd = frame[frame["variant"] == "GSD-Net"]
    assert gsd["label_dice"].tolist() == pytest.approx([95.0, 70.0])
    assert gsd["dice_mean"].tolist() == pytest.approx([91.0, 80.0])
    assert frame["value"].tolist()[:2] == ["[1, 2]", "[1, 2]"]
    assert figures[0].stat().st_size > 5_000 and figures[1].read_bytes().startswith(b"%PDF")
    table = pd.read_csv(tmp_path / "sweep.csv")
    assert table.loc[3, "Test Dice"] == "80.00 ± 1.00" and table.loc[3, "Noisy-label Dice"] == 70.0
    with pytest.raises(InputError, match="no training run on sweep setting"):
        write_noise_sweep(runs[:2], noise, sweep, settings, figures, paths(tmp_path, "sweep"))


def disc(size: int, centre: tuple[int, int], radius: float) -> np.ndarray:
    rows, cols = np.mgrid[:size, :size]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius ** 2


def make_prepared(root: Path, n_train: int = 4, n_test: int = 3, size: int = 32) -> Path:
    prepared = root / "prepared" / "toy"
    prepared.mkdir(parents=True)
    names = [f"img{index}" for index in range(n_train + n_test)]
    masks = np.stack([disc(size, (16, 12 + index), 6 + index % 3) for index in range(len(names))]).astype(np.uint8)
    images = np.random.default_rng(0).integers(0, 256, (len(names), size, size, 1), dtype=np.uint8)
    np.savez(prepared / "data.npz", images=images, masks=masks, names=np.array(names))
    np.savez(prepared / "original_masks.npz", **{name: mask.astype(bool) for name, mask in zip(names, masks,
                                                                                                 strict=True)})
    splits = ["train"] * n_train + ["test"] * n_test
    (prepared / "split.csv").write_text("name,split\n" + "".join(f"{name},{split}\n" for name, split
                                                                 in zip(names, splits, strict=True)))
    (prepared / "metadata.json").write_text(json.dumps({"dataset": "toy", "synthetic": True}))
    return prepared


def test_boundary_metrics_follow_the_empty_mask_rule(tmp_path: Path) -> None:
    make_prepared(tmp_path)
    clean = {"img4": disc(32, (16, 16), 6), "img5": np.zeros((32, 32), bool), "img6": disc(32, (16, 16), 6)}
    shifted = np.roll(clean["img4"], 3, axis=1)  # a 3-pixel shift: HD95 3
    predictions = {"img4": shifted, "img5": np.zeros((32, 32), bool), "img6": np.zeros((32, 32), bool)}
    run = write_run(tmp_path, "toy", "S_R", "CE", 0, 0.5, 0.0, predictions)
    scores = image_scores(run / "predictions.npz", clean).set_index("name")
    assert scores.loc["img4", "hd95"] == pytest.approx(3.0)
    assert 0 < scores.loc["img4", "nsd"] < 1
    assert scores.loc["img5", ["dice", "hd95", "nsd"]].tolist() == pytest.approx([1.0, 0.0, 1.0])
    assert np.isnan(scores.loc["img6", "hd95"]) and scores.loc["img6", "nsd"] == 0.0
    zero_rule = image_scores(run / "predictions.npz", clean, empty_score=0.0).set_index("name")
    assert zero_rule.loc["img5", ["dice", "hd95", "nsd"]].tolist() == pytest.approx([0.0, 0.0, 0.0])
    # against the prepared test masks (img4..img6 are discs there)
    write_run(tmp_path, "toy", "S_R", "GSD-Net", 0, 0.5, 0.0,
              {f"img{index}": disc(32, (16, 12 + index), 6 + index % 3) for index in (4, 5, 6)})
    frame = boundary_frame([run / "predictions.npz",
                            tmp_path / "runs/toy/S_R/GSD-Net/seed0/predictions.npz"], tmp_path / "prepared")
    perfect = frame[frame["variant"] == "GSD-Net"].iloc[0]
    assert perfect[["dice", "hd95", "nsd", "undefined"]].tolist() == pytest.approx([100.0, 0.0, 100.0, 0])
    ce = frame[frame["variant"] == "CE"].iloc[0]
    assert ce["undefined"] == 2  # img5 and img6: empty predictions of non-empty masks
    table = build_boundary_table(frame, ["GSD-Net", "CE"], 2.0).set_index("Variant")
    assert table.loc["CE", "toy S_R HD95 (px)"].endswith("(2 undef.)")
    assert table.loc["GSD-Net", "toy S_R NSD@2px"] == "100.00"
    out = paths(tmp_path, "table4_boundary")
    write_boundary_table([run / "predictions.npz"], tmp_path / "prepared", "table4", ["CE"], out)
    assert "exactly one is empty" in out["md"].read_text()


def test_boundary_metrics_name_a_prediction_file_that_does_not_match(tmp_path: Path) -> None:
    make_prepared(tmp_path)
    run = write_run(tmp_path, "toy", "S_R", "CE", 0, 0.5, 0.0, {"img0": np.zeros((32, 32), bool)})
    with pytest.raises(InputError, match=r"predictions\.npz: prediction for 'img0', which is not a test image"):
        boundary_frame([run / "predictions.npz"], tmp_path / "prepared")


def test_illustrative_noise_is_the_training_pipeline_noise(tmp_path: Path) -> None:
    prepared = make_prepared(tmp_path)
    spec = {"model": "dilate_erode", "radius": [1, 3]}
    simulate_dataset(prepared, tmp_path / "noise", "toy", "S_DE", spec, "original", seed=7)
    noisy = np.load(tmp_path / "noise" / "noisy_masks.npz")
    data = np.load(prepared / "data.npz")
    for index in range(4):  # the training images: the same function and seed give the training noise
        mask = illustrative_noisy_mask("toy", f"img{index}", "S_DE", spec, "original", data["masks"][index],
                                       data["masks"][index].astype(bool), seed=7)
        assert np.array_equal(mask, noisy["masks"][index].astype(bool))
    assert illustrative_noisy_mask("toy", "img0", "A1", {"model": "rater", "rater": 0}, "working",
                                   data["masks"][0], None, 7) is None


def test_qualitative_panel(tmp_path: Path) -> None:
    prepared = make_prepared(tmp_path, n_test=5)
    test_names = [f"img{index}" for index in range(4, 9)]
    assert choose_test_images(test_names, 3, 0) == choose_test_images(test_names, 3, 0)
    assert len(choose_test_images(test_names, 9, 0)) == 5
    data = np.load(prepared / "data.npz")
    predictions = {}
    for variant, shift in (("CE", 2), ("GSD-Net", 0)):
        predictions[variant] = write_run(tmp_path, "toy", "S_DE", variant, 0, 0.5, 0.0, {
            name: np.roll(data["masks"][index].astype(bool), shift, axis=0) for index, name in
            enumerate(data["names"]) if name in test_names}) / "predictions.npz"
    figures = [tmp_path / "qual.png", tmp_path / "qual.pdf"]
    shown = qualitative_figure(prepared, predictions, "S_DE", {"model": "dilate_erode", "radius": [1, 2]},
                               "working", figures, n_images=2, seed=0)
    assert shown == choose_test_images(test_names, 2, 0)
    assert figures[0].stat().st_size > 10_000 and figures[1].read_bytes().startswith(b"%PDF")
    np.savez(predictions["CE"], masks=np.zeros((1, 32, 32), bool), names=np.array(["img4"]))
    with pytest.raises(InputError, match=r"predictions\.npz: no prediction for test image 'img\d'$"):
        qualitative_figure(prepared, predictions, "S_DE", {"model": "dilate_erode", "radius": [1, 2]}, "working",
                           figures)
