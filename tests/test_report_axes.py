"""Config axes of the report: Table 9's clean-label shares, the noise sweep (Fig. 11), the qualitative panels."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from common.errors import InputError
from workflow.planner.checks import check_config, validate_config
from workflow.planner.targets import (
    add_derived_entries,
    annotation_ratio_cells,
    experiment_runs,
    fraction_variant,
    method_experiments,
    method_options,
    noise_resolution,
    noise_sweep_runs,
    qualitative_datasets,
    sweep_setting,
    training_settings,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"


def config_with_axes() -> dict:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["noise_settings"]["clean"] = {"model": "clean"}
    config["variants"]["GSD-Net"]["training"] = {"epochs": 12, "batch_size": 4}  # 12.5 % of 40 images: 5
    config["experiments"]["table9"] = {"datasets": ["synthetic"], "variants": ["GSD-Net"], "clean_setting": "clean",
                                       "noisy_settings": ["S_DE"], "train_fractions": [1.0, 0.5, 0.125]}
    config["noise_sweep"] = {"dataset": "synthetic", "base_setting": "S_DE", "parameter": "radius",
                             "values": [[3, 5], [9, 11], [20.5, 22]], "variants": ["CE", "GSD-Net"]}
    config["qualitative"] = {"experiment": "table4", "setting": "S_DE", "n_images": 2}
    return config


def test_derived_names_are_wildcard_safe_and_say_what_they_are() -> None:
    assert fraction_variant("GSD-Net", 1.0) == "GSD-Net"
    assert fraction_variant("GSD-Net", 0.5) == "GSD-Net_frac50"
    assert fraction_variant("GSD-Net", 0.125) == "GSD-Net_frac12p5"
    assert sweep_setting("S_DE", "radius", [20.5, 22]) == "S_DE_radius_20p5-22"
    assert sweep_setting("S_R", "theta2", 0.05) == "S_R_theta2_0p05"
    assert sweep_setting("S_R", "steps", 100) == "S_R_steps_100"
    for name in ("GSD-Net_frac12p5", "S_DE_radius_20p5-22", "S_R_theta2_0p05"):
        assert re.match(NAME_PATTERN, name)


def test_derived_entries_join_the_config_and_carry_their_overrides() -> None:
    config = config_with_axes()
    validate_config(config, SCHEMA)
    check_config(config)
    add_derived_entries(config)
    assert config["noise_settings"]["S_DE_radius_20p5-22"] == {"model": "dilate_erode", "radius": [20.5, 22]}
    assert training_settings(config, "synthetic", "GSD-Net_frac12p5")["train_fraction"] == 0.125
    assert training_settings(config, "synthetic", "GSD-Net_frac12p5")["epochs"] == 12  # the base's override kept
    assert method_options(config, "GSD-Net_frac50") == method_options(config, "GSD-Net")
    assert "GSD-Net" not in [name for name in config["variants"] if name.endswith("_frac100")]
    add_derived_entries(config)  # idempotent: the same entries again are no clash


def test_a_user_entry_with_a_derived_name_is_named() -> None:
    config = config_with_axes()
    config["variants"]["GSD-Net_frac50"] = {"method": "ce"}
    with pytest.raises(InputError, match=r"^config key variants\.GSD-Net_frac50: the name is taken"):
        add_derived_entries(config)


def test_table9_cells_and_runs() -> None:
    config = config_with_axes()
    config["seeds"] = [0, 1]
    add_derived_entries(config)
    cells = annotation_ratio_cells(config)
    assert [(cell["column"], cell["setting"], cell["run_variant"]) for cell in cells] == [
        ("clean 100%", "clean", "GSD-Net"), ("clean 50%", "clean", "GSD-Net_frac50"),
        ("clean 12.5%", "clean", "GSD-Net_frac12p5"), ("noisy S_DE 100%", "S_DE", "GSD-Net")]
    runs = experiment_runs(config, "table9")
    assert len(runs) == 8
    assert Path("results/runs/synthetic/clean/GSD-Net_frac12p5/seed1/summary.json") in runs
    assert "table9" not in method_experiments(config)


def test_sweep_runs_and_resolutions() -> None:
    config = config_with_axes()
    add_derived_entries(config)
    runs = noise_sweep_runs(config)
    assert len(runs) == 3 * 2
    assert Path("results/runs/synthetic/S_DE_radius_3-5/CE/seed0/summary.json") in runs
    assert noise_resolution(config, "synthetic", "S_DE_radius_3-5") == "original"  # the base's
    assert noise_resolution(config, "synthetic", "S_R") == "original"
    assert noise_resolution(config, "synthetic", "clean") == "working"
    assert qualitative_datasets(config) == ["synthetic"]
    config["noise_sweep"]["dataset"] = "kvasir"  # no path: the sweep is left out, as an experiment's data set
    assert noise_sweep_runs(config) == []


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["experiments"]["table9"].update(clean_setting="spotless"),
     r"^config key experiments\.table9: unknown noise setting 'spotless'"),
    (lambda c: c["experiments"]["table9"].update(paper_variant="CE"),
     r"^config key experiments\.table9\.paper_variant: 'CE' is not one of its variants"),
    (lambda c: c["experiments"]["table9"].update(variants=["Nope"]),
     r"^config key experiments\.table9\.variants: unknown variant 'Nope'"),
    (lambda c: c["noise_sweep"].update(parameter="theta1"),
     r"^config key noise_sweep\.parameter: 'theta1' is not a parameter of model dilate_erode"),
    (lambda c: c["noise_sweep"].update(values=[[3, 5], [6, 2]]),
     r"^config key noise_sweep\.values\.1: \[6, 2\]: noise_settings\.S_DE_radius_6-2\.radius"),
    (lambda c: c["noise_sweep"].update(values=[[3, 5], [3, 5]]), r"^config key noise_sweep\.values: repeated value"),
    (lambda c: c["noise_sweep"].update(base_setting="S_X"), r"^config key noise_sweep\.base_setting: unknown 'S_X'"),
    (lambda c: c["noise_sweep"].update(dataset="nowhere"), r"^config key noise_sweep\.dataset: unknown 'nowhere'"),
    (lambda c: c["noise_sweep"].update(variants=["Nope"]), r"^config key noise_sweep\.variants: unknown variant"),
    (lambda c: c["qualitative"].update(experiment="table9"),
     r"^config key qualitative\.experiment: 'table9' is not a method table"),
    (lambda c: c["qualitative"].update(setting="clean"),
     r"^config key qualitative\.setting: 'clean' is not in experiments\.table4\.settings"),
])
def test_cross_reference_errors_are_one_line_naming_the_key(change, message: str) -> None:
    config = config_with_axes()
    change(config)
    validate_config(config, SCHEMA)
    with pytest.raises(InputError, match=message) as info:
        check_config(config)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("change", "key"), [
    (lambda c: c["noise_sweep"].update(parameters="radius"), "config key noise_sweep:"),
    (lambda c: c["experiments"]["table9"].update(train_fractions=[0.0]),
     "config key experiments.table9.train_fractions.0"),
    (lambda c: c["experiments"]["table9"].update(settings=["S_DE"]), "config key experiments.table9:"),
    (lambda c: c["qualitative"].update(n_images=0), "config key qualitative.n_images"),
])
def test_schema_names_the_bad_key(change, key: str) -> None:
    config = copy.deepcopy(config_with_axes())
    change(config)
    with pytest.raises(InputError) as info:
        validate_config(config, SCHEMA)
    assert str(info.value).startswith(key) and "\n" not in str(info.value)
