"""Tables 4, 7 and 8 from run summaries: our value, the paper's and the difference in the right cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.runs import paper_method_column, write_cost_table, write_method_table


def write_summary(root: Path, dataset: str, setting: str, variant: str, dice: float) -> Path:
    folder = root / "runs" / dataset / setting / variant / "seed0"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"dice_mean": dice, "dice_std": 0.01, "config": {"epochs": 100},
                                                     "device": "test"}))
    return folder


@pytest.mark.parametrize(("table", "column"), [("table4", "Kvasir S_R"), ("table7", "S_R"), ("table8", "Kvasir S_R")])
def test_paper_columns(table: str, column: str) -> None:
    assert paper_method_column(table.removeprefix("table"), "kvasir", "S_R") == column
    assert paper_method_column(table.removeprefix("table"), "synthetic", "S_R") is None


def test_table7_row6_is_the_full_model(tmp_path: Path) -> None:
    runs = [write_summary(tmp_path, "kvasir", "S_R", "JoCoR", 0.70), write_summary(tmp_path, "kvasir", "S_R",
                                                                                   "GSD-Net", 0.81)]
    paths = {fmt: tmp_path / f"table7.{fmt}" for fmt in ("md", "csv", "tex")}
    frame = write_method_table(runs, "table7", ["JoCoR", "GSD-Net"], {"JoCoR": "1", "GSD-Net": "6"}, paths)
    full = frame[frame["Variant"] == "GSD-Net"].iloc[0]
    assert full["kvasir S_R ours"] == "81.00 ± 1.00"
    assert full["kvasir S_R paper"] == "80.04 ± 0.42"
    assert full["kvasir S_R diff"] == "+0.96"
    baseline = frame[frame["Variant"] == "JoCoR"].iloc[0]
    assert baseline["kvasir S_R paper"] == "71.05 ± 0.78"
    assert "Aggregates 2 runs" in paths["md"].read_text()


def test_table8_backbone_rows(tmp_path: Path) -> None:
    runs = [write_summary(tmp_path, "kvasir", "S_E", "GSD-Net-UNetPP", 0.79)]
    paths = {fmt: tmp_path / f"table8.{fmt}" for fmt in ("md", "csv", "tex")}
    frame = write_method_table(runs, "table8", ["GSD-Net-UNetPP"], {"GSD-Net-UNetPP": "GSD-Net UNet++"}, paths)
    assert frame.iloc[0]["kvasir S_E paper"] == "78.78 ± 0.50"
    assert "tabular" in paths["tex"].read_text()


def test_cost_table_means_and_paper_values(tmp_path: Path) -> None:
    runs = []
    for setting, seconds in (("S_R", 120.0), ("S_E", 240.0)):
        folder = write_summary(tmp_path, "kvasir", setting, "CE", 0.7)
        summary = json.loads((folder / "summary.json").read_text())
        summary.update(train_seconds_total=seconds, peak_gpu_memory_gb=None, inference_ms_per_image=4.0)
        (folder / "summary.json").write_text(json.dumps(summary))
        runs.append(folder)
    paths = {fmt: tmp_path / f"table10.{fmt}" for fmt in ("md", "csv", "tex")}
    row = write_cost_table(runs, ["CE"], {"CE": "CE Loss"}, paths).iloc[0]
    assert row["kvasir training (min) ours"] == "3.00"
    assert row["kvasir training (min) paper"] == "4.42"
    assert row["GPU memory (GB) ours"] == "—" and row["GPU memory (GB) paper"] == "1.67"
    assert row["inference (ms/img) ours"] == "4.00"


def test_stand_in_shows_its_paper_data_set_as_a_reference(tmp_path: Path) -> None:
    runs = [write_summary(tmp_path, "synthetic", "S_R", "GSD-Net", 0.70)]
    paths = {fmt: tmp_path / f"table4.{fmt}" for fmt in ("md", "csv", "tex")}
    row = write_method_table(runs, "table4", ["GSD-Net"], {"GSD-Net": "Ours"}, paths,
                             paper_data_sets={"synthetic": "Kvasir"}).iloc[0]
    assert row["synthetic [Kvasir reference] S_R ours"] == "70.00 ± 1.00"
    assert row["synthetic [Kvasir reference] S_R paper"] == "80.04 ± 0.42"
    assert row["synthetic [Kvasir reference] S_R diff"] == "-10.04"
    assert "Stand-ins, marked [X reference]: synthetic for Kvasir." in paths["md"].read_text()
    plain = write_method_table(runs, "table4", ["GSD-Net"], {"GSD-Net": "Ours"}, paths).iloc[0]
    assert plain["synthetic S_R paper"] == "—" and plain["synthetic S_R diff"] == "—"
    assert "reference" not in paths["md"].read_text()


def test_table5_stand_in_compares_with_brats(tmp_path: Path) -> None:
    assert paper_method_column("5", "synthetic3d", "S_E_3D", "BraTS2020") == "S_E"
    assert paper_method_column("5", "synthetic3d", "S_E_3D") is None
    assert paper_method_column("4", "synthetic", "S_R", "Kvasir") == "Kvasir S_R"
    runs = [write_summary(tmp_path, "synthetic3d", "S_R_3D", "CE", 0.75)]
    paths = {fmt: tmp_path / f"table5.{fmt}" for fmt in ("md", "csv", "tex")}
    row = write_method_table(runs, "table5", ["CE"], {"CE": "CE Loss"}, paths,
                             paper_data_sets={"synthetic3d": "BraTS2020"}).iloc[0]
    assert row["synthetic3d [BraTS2020 reference] S_R_3D paper"] == "69.16 ± 1.02"
    assert row["synthetic3d [BraTS2020 reference] S_R_3D diff"] == "+5.84"


def test_cost_table_stand_in_column(tmp_path: Path) -> None:
    folder = write_summary(tmp_path, "synthetic", "S_R", "CE", 0.7)
    summary = json.loads((folder / "summary.json").read_text())
    summary.update(train_seconds_total=60.0, peak_gpu_memory_gb=None, inference_ms_per_image=4.0)
    (folder / "summary.json").write_text(json.dumps(summary))
    paths = {fmt: tmp_path / f"table10.{fmt}" for fmt in ("md", "csv", "tex")}
    row = write_cost_table([folder], ["CE"], {"CE": "CE Loss"}, paths, paper_data_sets={"synthetic": "Kvasir"}).iloc[0]
    assert row["synthetic [Kvasir reference] training (min) paper"] == "4.42"
    assert write_cost_table([folder], ["CE"], {"CE": "CE Loss"}, paths).iloc[0]["synthetic training (min) paper"] == "—"


def test_caption_names_the_conventions(tmp_path: Path) -> None:
    """Item 5: the method table's caption names the aggregated per-epoch value, T-Loss's reduction and the KT
    region rule per cell; the boundary caption names HD95's pooling and NSD's boundary-pixel count."""
    import json

    from evaluation.runs import conventions_caption

    summaries = [{"method": "tloss", "method_options": {}, "config": {"eval_batch_size": 16}},
                 {"method": "gsdnet", "method_options": {"r_cp": 0.1}, "dataset": "shenzhen", "setting": "S_E",
                  "config": {"eval_batch_size": 16}},
                 {"method": "gsdnet", "method_options": {}, "dataset": "shenzhen", "setting": "S_R",
                  "config": {"eval_batch_size": 16}}]
    text = conventions_caption(summaries)
    assert "batch-mean Dice" in text and "test batch of 16" in text and "final epoch" in text
    assert "T-Loss reduction: pixel_mean" in text and "not the authors' sum" in text
    assert "threshold at r_cp 0.1 (shenzhen S_E)" in text and "threshold at r_cp 0.5 (shenzhen S_R)" in text
    assert "KT region" not in conventions_caption(summaries[:1])
    run = write_summary(tmp_path, "kvasir", "S_R", "T-Loss", 0.7)
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "method": "tloss"}))
    paths = {fmt: tmp_path / f"table4.{fmt}" for fmt in ("md", "csv", "tex")}
    write_method_table([run], "table4", ["T-Loss"], {"T-Loss": "T-Loss"}, paths)
    assert "T-Loss reduction: pixel_mean" in paths["md"].read_text()
    source = (Path(__file__).resolve().parents[1] / "evaluation" / "boundary.py").read_text()
    assert "both directions pooled (medpy" in source and "counting boundary pixels (MONAI" in source
