"""The configuration: schema, cross-reference checks, and the registry <-> schema agreement."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml
from snakemake.utils import update_config

import methods
from common.errors import InputError
from common.workflow_config import (
    GENERATED_ADAPTERS,
    active_datasets,
    check_config,
    experiment_runs,
    method_options,
    noise_pairs,
    paper_data_sets,
    run_tau,
    training_settings,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())


def default_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def schema_error(config: dict) -> str:
    with pytest.raises(jsonschema.ValidationError) as info:
        jsonschema.validate(config, SCHEMA)
    error = info.value
    return f"{'.'.join(str(part) for part in error.absolute_path)}: {error.message}"


@pytest.mark.parametrize("overlay", [None, "paper.yaml", "shared-data.yaml"])
def test_default_config_and_its_overlays_are_valid(overlay: str | None) -> None:
    config = default_config()
    if overlay:
        update_config(config, yaml.safe_load((ROOT / "config" / overlay).read_text()))
    jsonschema.validate(config, SCHEMA)
    check_config(config)


def test_schema_method_enum_agrees_with_registry() -> None:
    enum = SCHEMA["properties"]["variants"]["additionalProperties"]["properties"]["method"]["enum"]
    assert sorted(enum) == methods.available_methods()


def test_schema_adapter_enum_agrees_with_registry() -> None:
    import adapters

    enum = SCHEMA["properties"]["datasets"]["additionalProperties"]["properties"]["adapter"]["enum"]
    assert sorted(enum) == sorted(adapters.available_adapters())


def test_unknown_top_level_key_is_named() -> None:
    config = default_config()
    config["trainig"] = {}
    assert "'trainig' was unexpected" in schema_error(config)


def test_typo_in_training_key_is_named() -> None:
    config = default_config()
    config["training"]["epohcs"] = 3
    message = schema_error(config)
    assert message.startswith("training:") and "epohcs" in message


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("training", "epochs", -1), ("training", "epochs", "ten"), ("training", "tau", 1.0), ("training", "lr", 0)],
)
def test_bad_training_value_names_the_key(section: str, key: str, value: object) -> None:
    config = default_config()
    config[section][key] = value
    assert schema_error(config).startswith(f"{section}.{key}:")


def test_missing_required_key() -> None:
    config = default_config()
    del config["noise_settings"]
    assert "'noise_settings' is a required property" in schema_error(config)


def test_unknown_method_in_variant_is_rejected_by_schema() -> None:
    config = default_config()
    config["variants"]["Mine"] = {"method": "not_a_method"}
    assert schema_error(config).startswith("variants.Mine.method:")


def test_unknown_noise_setting_of_a_dataset() -> None:
    config = default_config()
    config["datasets"]["synthetic"]["noise"]["S_X"] = "working"
    with pytest.raises(InputError, match=r"datasets\.synthetic\.noise\.S_X: unknown noise setting 'S_X'"):
        check_config(config)


def test_unknown_variant_in_experiment() -> None:
    config = default_config()
    config["experiments"]["table4"]["variants"].append("NoSuch")
    with pytest.raises(InputError, match=r"experiments\.table4\.variants: unknown variant 'NoSuch'"):
        check_config(config)


def test_unknown_method_option_is_named() -> None:
    config = default_config()
    config["variants"]["GCE"]["qq"] = 0.7
    with pytest.raises(InputError, match=r"variants\.GCE: .*qq"):
        check_config(config)


def test_eval_window_longer_than_training() -> None:
    config = default_config()
    config["training"]["eval_last_k"] = config["training"]["epochs"] + 1
    with pytest.raises(InputError, match=r"training\.eval_last_k"):
        check_config(config)


def test_dataset_activation_by_path() -> None:
    config = default_config()
    generated = [name for name, entry in config["datasets"].items() if entry["adapter"] in GENERATED_ADAPTERS]
    assert active_datasets(config) == generated and {"synthetic", "synthetic3d"} <= set(generated)
    config["datasets"]["kvasir"]["path"] = "/data/kvasir"
    assert active_datasets(config) == [name for name in config["datasets"] if name in generated or name == "kvasir"]
    assert ("kvasir", "S_DE") in noise_pairs(config)



def test_generated_sets_are_left_out_of_a_real_data_config_that_does_not_use_them() -> None:
    config = default_config()
    config["datasets"]["kvasir"]["path"] = "/data/kvasir"
    for experiment in config["experiments"].values():
        experiment["datasets"] = ["kvasir"]
    for key in ("tau_search", "noise_sweep", "qualitative"):
        config.pop(key, None)
    assert active_datasets(config) == ["kvasir"]
    assert {dataset for dataset, _ in noise_pairs(config)} == {"kvasir"}
    config["experiments"]["table4"]["datasets"] = ["kvasir", "synthetic"]
    assert active_datasets(config) == [name for name in config["datasets"] if name in ("kvasir", "synthetic")]


def test_experiment_runs_cover_the_grid() -> None:
    config = default_config()
    config["seeds"] = [0, 1]
    runs = experiment_runs(config, "table4")
    experiment = config["experiments"]["table4"]
    assert len(runs) == len(experiment["settings"]) * len(experiment["variants"]) * 2
    assert Path("results/runs/synthetic/S_R/CE/seed1/summary.json") in runs


def test_variant_overrides_and_tau() -> None:
    config = copy.deepcopy(default_config())
    config["variants"]["CE"]["training"] = {"backbone": "unetpp"}
    config["datasets"]["synthetic"]["tau"] = {"S_R": 0.1}
    assert training_settings(config, "synthetic", "CE")["backbone"] == "unetpp"
    assert training_settings(config, "synthetic", "GCE")["backbone"] == "unet_small"
    assert method_options(config, "GCE") == ("gce", {"q": 0.7})
    assert run_tau(config, "synthetic", "S_R") == 0.1
    assert run_tau(config, "synthetic", "S_E") is None


def test_volume_working_size_and_table5_are_accepted_and_a_fourth_axis_is_named() -> None:
    config = default_config()
    assert config["datasets"]["synthetic3d"]["working_size"] == [16, 24, 24]
    jsonschema.validate(config, SCHEMA)
    check_config(config)
    assert [path.parts[2:4] for path in experiment_runs(config, "table5")][:2] == [("synthetic3d", "S_R_3D")] * 2
    assert training_settings(config, "synthetic3d", "GSD-Net")["backbone"] == "unet3d_small"
    config["datasets"]["synthetic3d"]["working_size"] = [16, 24, 24, 24]
    assert schema_error(config).startswith("datasets.synthetic3d.working_size")


def test_paper_data_sets_of_the_active_data_sets() -> None:
    config = default_config()
    assert paper_data_sets(config) == {"synthetic": "Kvasir", "synthetic_raters": "LIDC", "synthetic3d": "BraTS2020"}
    config["datasets"]["kvasir"]["path"] = "/data/kvasir"
    assert paper_data_sets(config)["kvasir"] is None
