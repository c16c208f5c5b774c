"""Table rendering, Table 3 from noise summaries, and run aggregation into method tables."""

import io
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from common.errors import InputError
from evaluation.runs import aggregate_runs, build_method_table, load_run
from evaluation.table3 import SYNTHETIC_LABEL, build_table3, write_table3
from evaluation.tables import comparison_columns, format_mean_std, render_table, write_table

SETTINGS = ("S_DE", "S_R", "S_E")


def tiny_frame() -> pd.DataFrame:
    return pd.DataFrame({"Method": ["CE_Loss & co", "Ours"], "Kvasir S_R": ["66.86 ± 4.46", "80.04 ± 0.42"],
                         "share (%)": ["5%", "—"]})


def test_render_markdown_csv_latex() -> None:
    outputs = render_table(tiny_frame(), "Table X", "A caption with 50% and a_b")
    assert set(outputs) == {"md", "csv", "tex"}
    markdown = outputs["md"].splitlines()
    assert markdown[0] == "**Table X**"
    assert "| Method | Kvasir S_R | share (%) |" in markdown
    assert "| Ours | 80.04 ± 0.42 | — |" in markdown
    assert markdown[-1] == "A caption with 50% and a_b"
    assert pd.read_csv(io.StringIO(outputs["csv"])).equals(tiny_frame())
    tex = outputs["tex"]
    for fragment in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lrr}",
                     r"CE\_Loss \& co & 66.86 $\pm$ 4.46 & 5\% \\", r"share (\%)", r"Ours & 80.04 $\pm$ 0.42 & --- \\",
                     r"\caption{Table X. A caption with 50\% and a\_b}"):
        assert fragment in tex
    assert "±" not in tex


def test_format_and_comparison_sign() -> None:
    assert format_mean_std(80.044, 0.416) == "80.04 ± 0.42"
    assert format_mean_std(84.97, None) == "84.97"
    assert format_mean_std(float("nan"), 1.0) == "—"
    below = comparison_columns(77.9, 1.2, 80.04, 0.42)
    assert below == {"ours": "77.90 ± 1.20", "paper": "80.04 ± 0.42", "diff": "-2.14"}
    assert comparison_columns(81.0, 0.5, 80.04, 0.42)["diff"] == "+0.96"
    assert comparison_columns(81.0, 0.5, None, None) == {"ours": "81.00 ± 0.50", "paper": "—", "diff": "—"}


def test_write_table_writes_all_formats(tmp_path: Path) -> None:
    outputs = render_table(tiny_frame(), "T", "")
    paths = {key: tmp_path / "sub" / f"t.{key}" for key in ("md", "csv", "tex")}
    write_table(outputs, paths)
    assert all(paths[key].read_text() == outputs[key] for key in paths)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["t.csv", "t.md", "t.tex"]


def write_noise_results(root: Path, dataset: str, synthetic: bool, dice: float) -> list[Path]:
    """Fake-but-valid results/prepared/{dataset}/metadata.json and results/noise/{dataset}/*/summary.json."""
    prepared = root / "prepared" / dataset
    prepared.mkdir(parents=True)
    (prepared / "metadata.json").write_text(json.dumps({"dataset": dataset, "synthetic": synthetic}))
    paths = []
    for offset, setting in enumerate(SETTINGS):
        folder = root / "noise" / dataset / setting
        folder.mkdir(parents=True)
        summary = {"setting": setting, "parameters": {}, "resolution": "working", "seed": 0, "n": 10,
                   "dice_mean": dice + 0.01 * offset, "dice_std": 0.05, "noise_rate": 0.0512,
                   "foreground_change_mean": -0.1}
        (folder / "summary.json").write_text(json.dumps(summary))
        paths.append(folder / "summary.json")
    return paths


def test_build_table3_paper_values_for_real_data_only(tmp_path: Path) -> None:
    summaries = write_noise_results(tmp_path, "toy", True, 0.70) + write_noise_results(tmp_path, "kvasir", False,
                                                                                          0.85)
    table = build_table3(summaries)
    assert list(zip(table["Dataset"], table["Setting"], strict=True)) == [
        ("kvasir", "S_R"), ("kvasir", "S_E"), ("kvasir", "S_DE"),
        *((f"toy ({SYNTHETIC_LABEL})", setting) for setting in ("S_R", "S_E", "S_DE"))]
    kvasir_sr = table.iloc[0]
    assert kvasir_sr["Dice noisy vs clean (%)"] == "86.00 ± 5.00"
    assert kvasir_sr["Paper"] == "84.97"
    assert kvasir_sr["Diff"] == "+1.03"
    assert kvasir_sr["tau"] == "0.0512"
    assert table.iloc[2]["Paper"] == "76.14"
    toy = table.iloc[3:]
    assert (toy["Paper"] == "—").all()
    assert (toy["Diff"] == "—").all()
    out = {key: tmp_path / "tables" / f"table3.{key}" for key in ("md", "csv", "tex")}
    write_table3(summaries, out["md"], out["csv"], out["tex"], prepared_root=tmp_path / "prepared")
    assert "84.97" in out["md"].read_text()
    assert "synthetic (generated)" in out["tex"].read_text()


def test_table3_shows_a_stand_ins_paper_data_set_as_a_reference(tmp_path: Path) -> None:
    summaries = write_noise_results(tmp_path, "toy", True, 0.70) + write_noise_results(tmp_path, "kvasir", False,
                                                                                          0.85)
    table = build_table3(summaries, paper_data_sets={"toy": "Kvasir", "kvasir": None})
    toy = table[table["Dataset"] == f"toy [Kvasir reference] ({SYNTHETIC_LABEL})"]
    assert toy["Setting"].tolist() == ["S_R", "S_E", "S_DE"]
    assert toy["Paper"].tolist() == ["84.97", "88.61", "76.14"]
    assert toy.iloc[0]["Diff"] == "-13.97"  # 71.00 - 84.97: shown, labelled as a reference
    assert table[table["Dataset"] == "kvasir"]["Paper"].tolist() == ["84.97", "88.61", "76.14"]
    assert (build_table3(summaries, paper_data_sets={"toy": None})["Dataset"] == f"toy ({SYNTHETIC_LABEL})").sum() == 3
    out = {key: tmp_path / "tables" / f"table3.{key}" for key in ("md", "csv", "tex")}
    write_table3(summaries, out["md"], out["csv"], out["tex"], paper_data_sets={"toy": "Kvasir"})
    markdown = out["md"].read_text()
    assert "toy [Kvasir reference]" in markdown and "Stand-ins, marked [X reference]: toy for Kvasir." in markdown
    write_table3(summaries, out["md"], out["csv"], out["tex"])
    assert "reference" not in out["md"].read_text()


def test_build_table3_missing_files_raise_input_error(tmp_path: Path) -> None:
    summaries = write_noise_results(tmp_path, "kvasir", False, 0.85)
    missing = tmp_path / "noise" / "kvasir" / "S_X" / "summary.json"
    with pytest.raises(InputError, match=re.escape(str(missing))):
        build_table3([*summaries, missing])
    with pytest.raises(InputError, match=r"metadata\.json"):
        build_table3(summaries, prepared_root=tmp_path / "elsewhere")
    summaries[0].write_text("{not json")
    with pytest.raises(InputError, match=re.escape(str(summaries[0]))):
        build_table3(summaries)


def write_run(root: Path, dataset: str, setting: str, variant: str, seed: int, dice: float, std: float) -> Path:
    folder = root / "runs" / dataset / setting / variant / f"seed{seed}"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"dice_mean": dice, "dice_std": std, "last_k": 10}))
    return folder


def test_aggregate_runs_and_method_table(tmp_path: Path) -> None:
    runs = [write_run(tmp_path, "kvasir", "S_R", "gsdnet", 0, 0.80, 0.004),
            write_run(tmp_path, "kvasir", "S_R", "gsdnet", 1, 0.78, 0.006),
            write_run(tmp_path, "kvasir", "S_E", "ce", 0, 0.70, 0.03),
            write_run(tmp_path, "toy", "S_R", "ce", 0, 0.60, 0.01)]
    assert load_run(runs[1])["seed"] == 1
    frame = aggregate_runs(runs)
    gsdnet = frame[frame["variant"] == "gsdnet"]
    assert gsdnet["seed_mean"].tolist() == pytest.approx([79.0, 79.0])
    assert gsdnet["seed_std"].iloc[0] == pytest.approx(math.sqrt(2.0))
    assert math.isnan(frame.loc[frame["variant"] == "ce", "seed_std"].iloc[0])

    def column_of(dataset: str, setting: str) -> str | None:
        return f"Kvasir {setting}" if dataset == "kvasir" else None

    table = build_method_table(frame, 4, {"ce": "CE Loss", "gsdnet": "Ours", "extra": None}, column_of)
    assert table["Variant"].tolist() == ["ce", "gsdnet", "extra"]
    groups = [column[: -len(" ours")] for column in table.columns if column.endswith(" ours")]
    assert groups == ["kvasir S_R", "kvasir S_E", "toy S_R"]
    ours = table.set_index("Variant")
    assert ours.loc["gsdnet", "kvasir S_R ours"] == "79.00 ± 0.50"
    assert ours.loc["gsdnet", "kvasir S_R paper"] == "80.04 ± 0.42"
    assert ours.loc["gsdnet", "kvasir S_R diff"] == "-1.04"
    assert ours.loc["gsdnet", "kvasir S_R seeds"] == "79.00 ± 1.41 (n=2)"
    assert ours.loc["ce", "kvasir S_E seeds"] == "n=1" and ours.loc["extra", "kvasir S_E seeds"] == "—"
    assert ours.loc["ce", "kvasir S_R ours"] == "—"
    assert ours.loc["ce", "kvasir S_R paper"] == "66.86 ± 4.46"
    assert ours.loc["ce", "toy S_R paper"] == "—"
    assert ours.loc["extra", "kvasir S_E paper"] == "—"
    collapsed = runs[3] / "summary.json"
    collapsed.write_text(json.dumps({**json.loads(collapsed.read_text()), "collapse": "empty"}))
    marked = build_method_table(aggregate_runs(runs), 4, {"ce": "CE Loss"}, column_of).set_index("Variant")
    assert marked.loc["ce", "toy S_R ours"] == "60.00 ± 1.00 ‡"
    assert marked.loc["ce", "kvasir S_E ours"] == "70.00 ± 3.00"
    labelled = build_method_table(frame, 4, {"ce": "CE Loss"}, column_of, {"toy": "toy [Kvasir reference]"})
    assert "toy [Kvasir reference] S_R ours" in labelled.columns and "kvasir S_E ours" in labelled.columns


def test_run_with_dice_in_points_is_rejected(tmp_path: Path) -> None:
    run = write_run(tmp_path, "kvasir", "S_R", "ce", 0, 80.0, 0.4)
    with pytest.raises(InputError, match="fraction"):
        aggregate_runs([run])
    with pytest.raises(InputError, match=r"summary\.json"):
        load_run(tmp_path / "runs" / "nowhere" / "seed0")


def test_a_variant_that_cannot_run_keeps_its_row_with_the_reason(tmp_path: Path) -> None:
    frame = pd.DataFrame([{"variant": "CE", "dataset": "kvasir", "setting": "S_R", "seed": 0, "dice_mean": 70.0,
                           "dice_std": 1.0}])
    table = build_method_table(frame, "4", {"CE": "CE Loss", "MSA": "MSA"}, lambda d, s: f"Kvasir {s}",
                               not_run={"MSA": "not run: no SAM checkpoint"})
    msa = table[table["Variant"] == "MSA"].iloc[0]
    assert msa["kvasir S_R ours"] == "not run: no SAM checkpoint"
    assert msa["kvasir S_R paper"] == "78.46 ± 0.56"
    assert table[table["Variant"] == "CE"].iloc[0]["kvasir S_R ours"] == "70.00 ± 1.00"


def test_table3_names_the_model_and_shows_the_3d_spread(tmp_path: Path) -> None:
    """Item 1: S_R_3D is M(50, ...) in the table; 3D rows show min and max, 2D rows do not."""
    from noise.settings import PAPER_SETTINGS

    root = tmp_path / "results"
    prepared = root / "prepared" / "vol"
    prepared.mkdir(parents=True)
    (prepared / "metadata.json").write_text(json.dumps({"dataset": "vol", "synthetic": False}))
    paths = []
    for setting, dims in (("S_R_3D", 3), ("S_R_3D_printed", 3), ("S_R", 2)):
        folder = root / "noise" / "vol" / setting
        folder.mkdir(parents=True)
        summary = {"setting": setting, "parameters": {**PAPER_SETTINGS[setting]}, "resolution": "original",
                   "seed": 0, "n": 8, "dice_mean": 0.86, "dice_std": 0.04, "dice_min": 0.781, "dice_max": 0.918,
                   "noise_rate": 0.01, "spatial_dims": dims}
        (folder / "summary.json").write_text(json.dumps(summary))
        paths.append(folder / "summary.json")
    table = build_table3(paths).set_index("Setting")
    assert table.loc["S_R_3D", "Model"] == "M(50, 0.4, 0.05, θ3 0.2)"
    assert table.loc["S_R_3D_printed", "Model"] == "M(200, 0.4, 0.05, θ3 0.2)"
    assert table.loc["S_R_3D", "Min–max (%)"] == "78.10–91.80"
    assert table.loc["S_R", "Min–max (%)"] == "—"
    assert table.loc["S_R", "Model"] == "M(200, 0.2, 0.05)"
    assert table.loc["S_R_3D_printed", "Paper"] == "—"   # the printed setting is measured, not compared
