"""The paper's numbers as data: known cells, completeness, and the paper's own cross-table repetitions."""

from pathlib import Path

import pytest
import yaml

from evaluation.paper import (
    DICE_TABLES,
    PAPER_DATA_SETS,
    compared_data_set,
    dataset_label,
    is_reference_label,
    load_paper_numbers,
    paper_value,
    reference_caption,
)

SETTINGS = ("S_R", "S_E", "S_DE")
TABLE4_COLUMNS = [f"{dataset} {setting}" for dataset in ("Kvasir", "Shenzhen", "BU_SUC") for setting in SETTINGS]


def test_known_cells() -> None:
    assert paper_value(4, "Ours", "Kvasir S_R") == (80.04, 0.42)
    assert paper_value("4", "ADELE", "Kvasir S_R") == (60.97, 14.78)
    assert paper_value(3, "S_R", "Kvasir") == (84.97, None)
    assert paper_value(3, "S_DE", "BraTS2020") == (82.99, None)
    assert paper_value(6, "CE Loss A1", "LIDC Dice_A1") == (88.97, 0.27)
    assert paper_value(10, "Ours", "Inference (ms/img)") == (5.12, None)
    assert paper_value(4, "Ours", "BraTS2020 S_R") is None


def test_every_table_present_with_expected_size() -> None:
    numbers = load_paper_numbers()
    sizes = numbers.groupby("table").size().to_dict()
    assert sizes == {"3": 12, "4": 13 * 9, "5": 8 * 3, "6": 25 * 10, "7": 6 * 3, "8": 6 * 9, "9": 3 * 5,
                     "10": 13 * 5}
    assert not numbers.duplicated(["table", "row", "column"]).any()


def test_dice_tables_are_in_points_with_std_where_printed() -> None:
    numbers = load_paper_numbers()
    dice = numbers[numbers["table"].isin(DICE_TABLES)]
    assert dice["mean"].between(0, 100).all()
    with_std = dice[dice["table"] != "3"]
    assert with_std["std"].notna().all()
    assert (with_std["std"] >= 0).all()
    assert numbers.loc[numbers["table"].isin(["3", "10"]), "std"].isna().all()


@pytest.mark.parametrize("column", TABLE4_COLUMNS)
def test_repeated_rows_agree_across_tables(column: str) -> None:
    """The paper repeats U-Net rows of Table 4 in Table 8 and the Kvasir GSD-Net row in Tables 7 and 9."""
    assert paper_value(8, "GSD-Net U-Net", column) == paper_value(4, "Ours", column)
    assert paper_value(8, "CE Loss U-Net", column) == paper_value(4, "CE Loss", column)


def test_text_quotes_match_tables() -> None:
    for setting in SETTINGS:
        assert paper_value(7, "6", setting) == paper_value(4, "Ours", f"Kvasir {setting}")
    for dataset in ("Kvasir", "Shenzhen", "BU_SUC"):
        assert paper_value(9, dataset, "noisy S_DE 100%") == paper_value(4, "Ours", f"{dataset} S_DE")
    assert [paper_value(5, "Ours", s)[0] for s in SETTINGS] == [81.53, 82.68, 83.84]
    assert paper_value(6, "Ours Sample 100", "LIDC Dice_mean")[0] == 88.09
    assert paper_value(6, "Ours Sample 100", "MMIS Dice_mean")[0] == 77.87
    assert paper_value(6, "D-Persona All 50", "LIDC Dice_mean")[0] == 87.93
    assert paper_value(6, "D-Persona All 50", "MMIS Dice_mean")[0] == 77.17


def test_load_returns_an_independent_copy() -> None:
    first = load_paper_numbers()
    first.loc[:, "mean"] = -1.0
    assert paper_value(4, "Ours", "Kvasir S_R") == (80.04, 0.42)


def test_table6_rater_mean_is_the_mean_of_the_raters() -> None:
    """Catches typos in Table 6; two MMIS rows are inconsistent in the paper itself (documented in paper.py)."""
    numbers = load_paper_numbers()
    table6 = numbers[numbers["table"] == "6"]
    inconsistent = set()
    for row, group in table6.groupby("row"):
        means = group.set_index("column")["mean"]
        for dataset in ("LIDC", "MMIS"):
            raters = sum(means[f"{dataset} Dice_A{rater}"] for rater in range(1, 5)) / 4
            if abs(raters - means[f"{dataset} Dice_mean"]) > 0.015:
                inconsistent.add((row, dataset))
    assert inconsistent == {("CE Loss Sample 25", "MMIS"), ("CE Loss Sample 50", "MMIS")}


def test_paper_data_sets_are_the_csv_columns_and_the_schema_enum() -> None:
    schema = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow" / "schemas" /
                             "config.schema.yaml").read_text())
    entry = schema["properties"]["datasets"]["additionalProperties"]["properties"]["paper_data_set"]
    assert tuple(entry["enum"]) == PAPER_DATA_SETS
    columns = set(load_paper_numbers()["column"])
    for name in PAPER_DATA_SETS:
        assert any(column == name or column.startswith(f"{name} ") or f" {name} " in column for column in columns)


def test_reference_labels_name_the_stand_in() -> None:
    references = {"synthetic": "Kvasir", "kvasir": None}
    assert compared_data_set("synthetic", references, lambda name: None) == "Kvasir"
    assert compared_data_set("kvasir", references, lambda name: "Kvasir") == "Kvasir"
    assert compared_data_set("toy", references, lambda name: None) is None
    assert dataset_label("synthetic", references) == "synthetic [Kvasir reference]"
    assert dataset_label("kvasir", references) == "kvasir"
    assert is_reference_label("synthetic [Kvasir reference] S_R diff")
    assert not is_reference_label("kvasir S_R diff") and not is_reference_label("reference")
    assert "synthetic for Kvasir" in reference_caption(["synthetic", "kvasir"], references)
    assert "not a reproduction check" in reference_caption(["synthetic"], references)
    assert reference_caption(["kvasir", "toy"], references) == ""
