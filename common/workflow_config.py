"""The workflow's view of the configuration: which data sets, noise settings and runs make up the DAG.

Snakemake's ``common.smk`` calls these functions; they are plain Python so they are unit-tested. The schema
(``workflow/schemas/config.schema.yaml``) checks types and names; :func:`check_config` checks what a schema
cannot: cross references between sections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from common.errors import InputError

#: Adapters that generate their data and need no ``path``.
GENERATED_ADAPTERS = frozenset({"synthetic"})

RESULTS = Path("results")


def active_datasets(config: dict[str, Any]) -> list[str]:
    """Data sets in the run: generated ones, and real ones whose ``path`` is set (config order)."""
    return [
        name
        for name, entry in config["datasets"].items()
        if entry["adapter"] in GENERATED_ADAPTERS or entry.get("path")
    ]


def noise_pairs(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (data set, noise setting) pair of the active data sets."""
    return [
        (dataset, setting) for dataset in active_datasets(config) for setting in config["datasets"][dataset]["noise"]
    ]


def experiment_datasets(config: dict[str, Any], table: str) -> list[str]:
    """The active data sets an experiment (a table) runs on."""
    experiment = config["experiments"][table]
    active = active_datasets(config)
    return [name for name in experiment.get("datasets", active) if name in active]


def experiment_runs(config: dict[str, Any], table: str) -> list[Path]:
    """``summary.json`` paths of every run behind one table: data set x setting x variant x seed."""
    experiment = config["experiments"][table]
    return [
        RESULTS / "runs" / dataset / setting / variant / f"seed{seed}" / "summary.json"
        for dataset in experiment_datasets(config, table)
        for setting in experiment["settings"]
        if setting in config["datasets"][dataset]["noise"]
        for variant in experiment["variants"]
        for seed in config.get("seeds", [0])
    ]


def training_settings(config: dict[str, Any], dataset: str, variant: str) -> dict[str, Any]:
    """The engine settings of one run: global ``training``, then the data set's, then the variant's overrides."""
    merged = dict(config["training"])
    merged.update(config["datasets"][dataset].get("training", {}))
    merged.update(config["variants"][variant].get("training", {}))
    return merged


def method_options(config: dict[str, Any], variant: str) -> tuple[str, dict[str, Any]]:
    """(registry name, options) of a variant: every key but ``method`` and ``training``."""
    entry = config["variants"][variant]
    return entry["method"], {key: value for key, value in entry.items() if key not in ("method", "training")}


def run_tau(config: dict[str, Any], dataset: str, setting: str) -> float | None:
    """tau from the data set's ``tau`` table or global ``training.tau``; None = the measured noise rate."""
    tau_table = config["datasets"][dataset].get("tau", {})
    if setting in tau_table:
        return float(tau_table[setting])
    return config["training"].get("tau")


def validate_config(config: dict[str, Any], schema_path: str | Path) -> None:
    """Validate ``config`` against the YAML schema at ``schema_path``; the most relevant problem (jsonschema's
    ``best_match``) is a one-line InputError naming the key."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    error = best_match(validator_for(schema)(schema).iter_errors(config))
    if error is not None:
        key = ".".join(str(part) for part in error.absolute_path)
        message = " ".join(error.message.split())
        raise InputError(f"config key {key}: {message}" if key else f"config: {message}")


def check_config(config: dict[str, Any]) -> None:
    """Cross-reference checks after schema validation; the first problem is an InputError naming the key."""
    from methods import build_method

    settings = config["noise_settings"]
    for dataset, entry in config["datasets"].items():
        for setting in entry["noise"]:
            if setting not in settings:
                raise InputError(
                    f"config key datasets.{dataset}.noise.{setting}: unknown noise setting {setting!r}; "
                    f"defined in noise_settings: {', '.join(settings)}"
                )
        for setting in entry.get("tau", {}):
            if setting not in entry["noise"]:
                raise InputError(f"config key datasets.{dataset}.tau.{setting}: {setting!r} is not in "
                                 f"datasets.{dataset}.noise")
    for name, spec in settings.items():
        if spec["model"] == "dilate_erode" and spec["radius"][0] > spec["radius"][1]:
            raise InputError(f"config key noise_settings.{name}.radius: low {spec['radius'][0]} > high "
                             f"{spec['radius'][1]}")
    for variant in config["variants"]:
        method, options = method_options(config, variant)
        try:
            build_method(method, **options)
        except InputError as error:
            raise InputError(f"config key variants.{variant}: {error}") from None
    active = active_datasets(config)
    for table, experiment in config["experiments"].items():
        for dataset in experiment.get("datasets", []):
            if dataset not in config["datasets"]:
                raise InputError(f"config key experiments.{table}.datasets: unknown data set {dataset!r}; "
                                 f"defined: {', '.join(config['datasets'])}")
        for variant in experiment["variants"]:
            if variant not in config["variants"]:
                raise InputError(f"config key experiments.{table}.variants: unknown variant {variant!r}; "
                                 f"defined: {', '.join(config['variants'])}")
        for variant in experiment.get("compare_against", []):
            if variant not in experiment["variants"]:
                raise InputError(f"config key experiments.{table}.compare_against: {variant!r} is not one of the "
                                 f"experiment's variants")
        for setting in experiment["settings"]:
            if setting not in settings:
                raise InputError(f"config key experiments.{table}.settings: unknown noise setting {setting!r}")
    search = config.get("tau_search")
    if search:
        for key, known in (("dataset", config["datasets"]), ("setting", settings), ("variant", config["variants"])):
            if search[key] not in known:
                raise InputError(f"config key tau_search.{key}: unknown {key} {search[key]!r}; "
                                 f"defined: {', '.join(known)}")
        if search["dataset"] not in active:
            raise InputError(f"config key tau_search.dataset: data set {search['dataset']!r} is not active "
                             f"(set datasets.{search['dataset']}.path)")
    for dataset in active:
        for variant in config["variants"]:
            training = training_settings(config, dataset, variant)
            if training.get("eval_last_k", 1) > training.get("epochs", 1):
                raise InputError(f"config key training.eval_last_k: {training['eval_last_k']} is more than "
                                 f"training.epochs ({training['epochs']}) for data set {dataset}, variant {variant}")
