"""The configuration: schema, cross-reference checks, and the registry <-> schema agreement."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml
from snakemake.utils import update_config

from common.errors import InputError
from workflow.planner.checks import check_config
from workflow.planner.targets import (
    GENERATED_ADAPTERS,
    active_datasets,
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


def test_the_schema_does_not_repeat_the_registries() -> None:
    text = (ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text()
    assert not any(f"{name}," in text or f", {name}]" in text
                   for name in ("gsdnet", "coteaching", "kvasir_seg", "lidc_pickle", "unet3d_small"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["variants"]["CE"].update(method="cee"),
         r"^config key variants\.CE\.method: unknown method 'cee'; known methods: .*\bce\b.*gsdnet"),
        (lambda c: c["datasets"]["synthetic"].update(adapter="synthetc"),
         r"^config key datasets\.synthetic\.adapter: unknown adapter 'synthetc'; known adapters: brats, "),
        (lambda c: c["datasets"]["lidc"]["method_options"].update(gsdnett={}),
         r"^config key datasets\.lidc\.method_options: unknown method 'gsdnett'; known methods: "),
        (lambda c: c["training"].update(backbone="unet"),
         r"^config key training\.backbone: unknown backbone 'unet'; known backbones: mit_unet, unet3d_small, "),
        (lambda c: c["variants"]["CE"].update(training={"backbone": "resnet"}),
         r"^config key variants\.CE\.training\.backbone: unknown backbone 'resnet'; known backbones: "),
    ],
)
def test_registry_names_are_checked_with_the_known_names(edit, message: str) -> None:
    config = default_config()
    jsonschema.validate(config, SCHEMA)
    edit(config)
    with pytest.raises(InputError, match=message):
        check_config(config)


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
    runnable = [variant for variant in experiment["variants"] if variant != "MSA"]  # MSA: no SAM checkpoint here
    assert len(runs) == len(experiment["settings"]) * len(runnable) * 2
    assert Path("results/runs/synthetic/S_R/CE/seed1/summary.json") in runs


def test_variant_overrides_and_tau() -> None:
    config = copy.deepcopy(default_config())
    config["variants"]["CE"]["training"] = {"backbone": "unetpp"}
    config["datasets"]["synthetic"]["tau"] = {"S_R": 0.1}
    assert training_settings(config, "synthetic", "CE")["backbone"] == "unetpp"
    assert training_settings(config, "synthetic", "GCE")["backbone"] == "unet_narrow"   # the data set's
    assert training_settings(config, "synthetic", "GSD-Net-short")["epochs"] == 8        # the variant's, beside it
    assert training_settings(config, "synthetic", "GSD-Net-short")["backbone"] == "unet_narrow"
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


def test_msa_without_a_checkpoint_is_left_out_and_a_missing_checkpoint_is_refused(tmp_path: Path) -> None:
    config = default_config()
    check_config(config)
    runs = [str(path) for path in experiment_runs(config, "table4")]
    assert "MSA" in config["experiments"]["table4"]["variants"] and not any("/MSA/" in run for run in runs)
    assert any("/GSD-Net/" in run for run in runs)
    config["variants"]["MSA"]["sam_checkpoint"] = str(tmp_path / "sam_vit_b_01ec64.pth")
    with pytest.raises(InputError, match=r"^config key variants\.MSA\.sam_checkpoint: MSA needs the SAM ViT-B "
                                         rf"checkpoint: .*; file not found: {tmp_path}/sam_vit_b_01ec64\.pth$"):
        check_config(config)


def test_the_brats_shrinking_setting_is_the_reference_scripts_and_the_printed_one_is_kept() -> None:
    from noise.settings import PAPER_SETTINGS

    for settings in (default_config()["noise_settings"], PAPER_SETTINGS):
        assert settings["S_R_3D"]["steps"] == 50 and settings["S_R_3D_printed"]["steps"] == 200
        assert {key: value for key, value in settings["S_R_3D"].items() if key != "steps"} == \
            {key: value for key, value in settings["S_R_3D_printed"].items() if key != "steps"}


def paper_config() -> dict:
    config = default_config()
    update_config(config, yaml.safe_load((ROOT / "config" / "paper.yaml").read_text()))
    return config


def test_method_options_per_data_set_and_setting() -> None:
    config = paper_config()
    for dataset in ("shenzhen", "busuc"):
        assert method_options(config, "GSD-Net", dataset, "S_E")[1]["r_cp"] == 0.1
        assert "r_cp" not in method_options(config, "GSD-Net", dataset, "S_R")[1]
    assert "r_cp" not in method_options(config, "GSD-Net", "kvasir", "S_E")[1]
    config["datasets"]["shenzhen"]["setting_method_options"]["S_X"] = {"gsdnet": {"r_cp": 0.2}}
    with pytest.raises(InputError, match=r"^config key datasets\.shenzhen\.setting_method_options\.S_X: 'S_X' is not "
                                         r"in datasets\.shenzhen\.noise$"):
        check_config(config)
    config = paper_config()
    config["datasets"]["busuc"]["setting_method_options"]["S_E"]["gsdnet"]["r_cp"] = 2.0
    with pytest.raises(InputError, match=r"^config key datasets\.busuc\.setting_method_options\.S_E\.gsdnet: method "
                                         r"'gsdnet': option 'r_cp' must be in \[0, 1\]; got 2.0$"):
        check_config(config)


def test_gsdnet_w_max_is_derived_from_the_working_size_unless_set() -> None:
    config = default_config()
    assert method_options(config, "GSD-Net", "synthetic", "S_R")[1]["w_max"] == 2.5  # 64^2: the value once typed
    assert method_options(config, "GSD-Net", "lidc", "A1")[1]["w_max"] == 5.0        # 128^2
    assert method_options(config, "GSD-Net", "kvasir", "S_R")[1]["w_max"] == 10.0    # 256^2
    assert method_options(config, "GSD-Net", "synthetic3d", "S_R_3D")[1]["w_max"] == 2  # set by the data set
    config["variants"]["GSD-Net"]["w_max"] = 7
    assert method_options(config, "GSD-Net", "kvasir", "S_R")[1]["w_max"] == 7
    assert "w_max" not in method_options(config, "CE", "kvasir", "S_R")[1]


@pytest.mark.parametrize(("change", "named"), [
    ({"S_X": {"gsdnet": {"r_cp": 0.1}}}, "setting_method_options.S_X"),
    ({"S_E": {"nomethod": {"r_cp": 0.1}}}, "setting_method_options.S_E.nomethod"),
    ({"S_E": {"gsdnet": {"r_cpp": 0.1}}}, "setting_method_options.S_E.gsdnet"),
])
def test_bad_setting_method_options_name_the_key(change: dict, named: str) -> None:
    config = default_config()
    config["datasets"]["synthetic"]["setting_method_options"] = change
    with pytest.raises(InputError, match=f"datasets.synthetic.{named}"):
        check_config(config)


def test_w_max_is_derived_from_the_working_size() -> None:
    """Item 6: 10 at 256, 5 at 128, 2.5 at the default's 64 (the value config.yaml typed before); a typed value
    (the 3D profile's) is kept."""
    config = default_config()
    assert method_options(config, "GSD-Net", "synthetic", "S_R")[1]["w_max"] == 2.5
    assert method_options(config, "GSD-Net-short", "synthetic", "S_DE")[1]["w_max"] == 2.5
    assert method_options(config, "GSD-Net", "synthetic_raters", "sampled")[1]["w_max"] == 2.5
    assert method_options(config, "GSD-Net", "synthetic3d", "S_R_3D")[1]["w_max"] == 2
    paper = paper_config()
    assert [method_options(paper, "GSD-Net", dataset)[1]["w_max"] for dataset in ("kvasir", "lidc", "mmis", "brats")] \
        == [10.0, 5.0, 5.0, 5.0]
    assert "w_max" not in method_options(config, "CE", "synthetic")[1]


def test_paper_profile_takes_the_reference_brats_and_mmis_loader_details() -> None:
    """Item 3: BraTS distance cap 5, Gaussian-noise second view N(0.05, 0.02), SLIC on FLAIR with 4,000 segments;
    MMIS without jitter; the default profile keeps the current priors and views."""
    from training.run_config import RunConfig

    config = paper_config()
    assert config["datasets"]["brats"]["priors"] == {"distance_cap": 5, "slic_channels": [3], "slic_segments": 4000}
    brats = training_settings(config, "brats", "GSD-Net")
    assert (brats["second_view"], brats["second_view_noise"]) == ("gaussian_noise", [0.05, 0.02])
    assert training_settings(config, "mmis", "GSD-Net")["second_view"] == "none"
    assert "second_view" not in training_settings(config, "kvasir", "GSD-Net")
    RunConfig.from_mapping({"prepared_dir": "x", "method": "gsdnet", **brats})
    assert all("priors" not in entry for entry in default_config()["datasets"].values())
    bad = default_config()
    bad["datasets"]["synthetic"]["priors"] = {"distance_cap": 0}
    assert "priors.distance_cap" in schema_error(bad)


def test_a_method_checks_its_file_options_before_the_first_job(monkeypatch: pytest.MonkeyPatch) -> None:
    from methods import registry
    from methods.ce import CrossEntropyMethod

    class NeedsWeights(CrossEntropyMethod):
        """A toy method whose ``weights`` option must name an existing file."""

        def __init__(self, weights: str = "", **options: object) -> None:
            super().__init__(**options)

        @classmethod
        def check_config(cls, options: dict, key: str) -> None:
            if not Path(options.get("weights", "")).is_file():
                raise InputError(f"config key {key}.weights: file not found: {options.get('weights')}")

    monkeypatch.setattr(registry.METHODS, "_entries", dict(registry.METHODS._entries))
    registry.register_method("test_needs_weights")(NeedsWeights)
    config = default_config()
    config["variants"]["Toy"] = {"method": "test_needs_weights", "weights": "/no/such/sam.pth"}
    with pytest.raises(InputError, match=r"^config key variants\.Toy\.weights: file not found: /no/such/sam\.pth$"):
        check_config(config)
    config["variants"]["Toy"]["weights"] = str(ROOT / "README.md")
    check_config(config)


def test_run_key_maps_to_and_from_its_folder() -> None:
    from common.run_key import RunKey

    key = RunKey("kvasir", "S_R", "GSD-Net", 3)
    assert key.folder() == Path("results/runs/kvasir/S_R/GSD-Net/seed3")
    assert RunKey.from_folder(key.folder("/tmp/x")) == key
    assert key.as_dict() == {"dataset": "kvasir", "setting": "S_R", "variant": "GSD-Net", "seed": 3}
    with pytest.raises(InputError, match="not a run folder"):
        RunKey.from_folder("results/runs/kvasir/S_R/GSD-Net/latest")
