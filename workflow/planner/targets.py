"""What the workflow builds: the active data sets, noise settings, runs and report entries that make up the DAG."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from common.errors import InputError
from common.run_key import RunKey

#: Adapters that generate their data and need no ``path``.
GENERATED_ADAPTERS = frozenset({"synthetic", "synthetic_3d"})

RESULTS = Path("results")

#: The experiment rendered as Table 9 (clean subsets vs all noisy labels), not as a method table.
ANNOTATION_RATIO_TABLE = "table9"

#: The experiment rendered as Table 6 (Dice against each rater of a multi-rater set), not as a method table.
MULTI_RATER_TABLE = "table6"

#: The paper's shares of clean training labels in Table 9.
DEFAULT_TRAIN_FRACTIONS = (1.0, 0.5, 0.25, 0.125)


def active_datasets(config: dict[str, Any]) -> list[str]:
    """Data sets in the run (config order): real ones whose ``path`` is set, and generated ones where an experiment,
    ``tau_search`` or ``noise_sweep`` names them, or where no real data set has a path (the default profile)."""
    datasets = config["datasets"]
    real = [name for name, entry in datasets.items()
            if entry["adapter"] not in GENERATED_ADAPTERS and entry.get("path")]
    named = {name for experiment in config.get("experiments", {}).values() for name in experiment.get("datasets", [])}
    named |= {config[key]["dataset"] for key in ("tau_search", "noise_sweep") if config.get(key)}
    return [
        name
        for name, entry in datasets.items()
        if name in real or (entry["adapter"] in GENERATED_ADAPTERS and (name in named or not real))
    ]


def paper_data_sets(config: dict[str, Any]) -> dict[str, str | None]:
    """Active data set -> the paper data set its tables show for reference (``paper_data_set``; None: unset, the
    tables map the data set's name)."""
    return {dataset: config["datasets"][dataset].get("paper_data_set") for dataset in active_datasets(config)}


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


def unavailable_variants(config: dict[str, Any]) -> dict[str, str]:
    """Variant -> why it cannot run here (:meth:`methods.base.Method.unavailable_reason`, e.g. MSA without a SAM
    checkpoint): such variants are left out of the DAG, and their table cells carry the reason."""
    from methods.registry import get_method

    reasons = {}
    for variant in config["variants"]:
        method, options = method_options(config, variant)
        reason = get_method(method).unavailable_reason(options)
        if reason:
            reasons[variant] = reason
    return reasons


def experiment_runs(config: dict[str, Any], table: str) -> list[Path]:
    """``summary.json`` paths of every run behind one table: data set x setting x variant x seed (Table 9: its
    cells x seed, :func:`annotation_ratio_cells`); variants that cannot run here (:func:`unavailable_variants`)
    are left out."""
    if table == ANNOTATION_RATIO_TABLE:
        return [run_summary(cell["dataset"], cell["setting"], cell["run_variant"], seed)
                for cell in annotation_ratio_cells(config) for seed in config.get("seeds", [0])]
    experiment = config["experiments"][table]
    pairs = [(setting, variant) for setting in experiment["settings"] for variant in experiment["variants"]]
    if table == MULTI_RATER_TABLE:
        pairs += [(setting, variant) for setting in experiment["settings"]
                  if config["noise_settings"][setting].get("rater") == "sampled"
                  for variant in experiment.get("sampled_variants", [])]
    unavailable = unavailable_variants(config)
    pairs = [(setting, variant) for setting, variant in pairs if variant not in unavailable]
    return [
        RunKey(dataset, setting, variant, seed).folder(RESULTS) / "summary.json"
        for dataset in experiment_datasets(config, table)
        for setting, variant in pairs
        if setting in config["datasets"][dataset]["noise"]
        for seed in config.get("seeds", [0])
    ]


def training_settings(config: dict[str, Any], dataset: str, variant: str) -> dict[str, Any]:
    """The engine settings of one run: global ``training``, then the data set's, then the variant's overrides."""
    merged = dict(config["training"])
    merged.update(config["datasets"][dataset].get("training", {}))
    merged.update(config["variants"][variant].get("training", {}))
    return merged


def method_options(config: dict[str, Any], variant: str, dataset: str | None = None,
                   setting: str | None = None) -> tuple[str, dict[str, Any]]:
    """(registry name, options) of a variant: every key but ``method`` and ``training``; on ``dataset``, updated by
    the data set's ``method_options.<method>`` (its protocol constants, e.g. LIDC's co_weight 0.1), then on
    ``setting`` by ``setting_method_options.<setting>.<method>`` (e.g. r_cp 0.1 for Shenzhen S_E), then filled
    with the method's defaults for the data set's working size where not set (GSD-Net's w_max, the paper's rule)."""
    from methods.registry import get_method

    entry = config["variants"][variant]
    method = entry["method"]
    options = {key: value for key, value in entry.items() if key not in ("method", "training")}
    if dataset is not None:
        dataset_entry = config["datasets"][dataset]
        options.update(dataset_entry.get("method_options", {}).get(method, {}))
        if setting is not None:
            options.update(dataset_entry.get("setting_method_options", {}).get(setting, {}).get(method, {}))
        sizes = dataset_entry["working_size"]
        spatial = tuple(sizes) if isinstance(sizes, list) else (sizes, sizes)
        for key, value in get_method(method).working_size_defaults(spatial).items():
            options.setdefault(key, value)
    return method, options


def run_tau(config: dict[str, Any], dataset: str, setting: str) -> float | None:
    """tau from the data set's ``tau`` table or global ``training.tau``; None = the measured noise rate."""
    tau_table = config["datasets"][dataset].get("tau", {})
    if setting in tau_table:
        return float(tau_table[setting])
    return config["training"].get("tau")


def planned_pairs(config: dict[str, Any]) -> list[tuple[str, str]]:
    """The (data set, variant) pairs the experiments and ``tau_search`` train, in config order, once each."""
    pairs: dict[tuple[str, str], None] = {}
    for table, experiment in config["experiments"].items():
        variants = [*experiment.get("variants", []), *experiment.get("sampled_variants", [])]
        for dataset in experiment_datasets(config, table):
            pairs.update(dict.fromkeys((dataset, variant) for variant in variants if variant in config["variants"]))
    search = config.get("tau_search")
    if search and search["dataset"] in active_datasets(config):
        pairs[(search["dataset"], search["variant"])] = None
    return list(pairs)


def run_summary(dataset: str, setting: str, variant: str, seed: int) -> Path:
    """``summary.json`` of one training run."""
    return RunKey(dataset, setting, variant, seed).folder(RESULTS) / "summary.json"


def name_token(value: float) -> str:
    """A number as a wildcard-safe name part: 12.5 -> ``12p5``, 0.05 -> ``0p05``, 10 -> ``10``."""
    return f"{value:g}".replace(".", "p").replace("-", "m").replace("+", "")


def fraction_variant(variant: str, fraction: float) -> str:
    """The variant trained on a ``fraction`` subset of the training images (``GSD-Net_frac50``); 1 -> ``variant``."""
    return variant if fraction >= 1.0 else f"{variant}_frac{name_token(100 * fraction)}"


def sweep_setting(base: str, parameter: str, value: Any) -> str:
    """The derived noise setting of one sweep value: ``S_DE_radius_3-5``, ``S_R_theta2_0p1``."""
    values = value if isinstance(value, list | tuple) else [value]
    return f"{base}_{parameter}_{'-'.join(name_token(float(item)) for item in values)}"


def method_experiments(config: dict[str, Any]) -> list[str]:
    """The experiments rendered as method tables (rows: variants; columns: data set x setting)."""
    return [table for table in config["experiments"] if table not in (ANNOTATION_RATIO_TABLE, MULTI_RATER_TABLE)]


def is_rater_source(config: dict[str, Any], setting: str) -> bool:
    """Whether noise setting ``setting`` is a multi-rater label source (``model: rater``)."""
    return config["noise_settings"][setting]["model"] == "rater"


def multi_rater_datasets(config: dict[str, Any]) -> list[str]:
    """Active data sets with a rater label source among their settings (the rater agreement figure's)."""
    return [dataset for dataset in active_datasets(config)
            if any(is_rater_source(config, setting) for setting in config["datasets"][dataset]["noise"])]


def train_fractions(experiment: dict[str, Any]) -> list[float]:
    """Table 9's shares of clean training labels (default: the paper's 100, 50, 25, 12.5 %)."""
    return [float(fraction) for fraction in experiment.get("train_fractions", DEFAULT_TRAIN_FRACTIONS)]


def annotation_ratio_cells(config: dict[str, Any]) -> list[dict[str, str]]:
    """Table 9's cells: per active data set and variant, one run on each clean share and on each noisy setting.

    Each cell: ``dataset``, ``variant`` (the row's), ``column`` (the paper's: ``clean 50%``, ``noisy S_DE 100%``),
    ``setting`` (label source) and ``run_variant`` (the variant trained: :func:`fraction_variant`).
    """
    experiment = config["experiments"].get(ANNOTATION_RATIO_TABLE)
    if not experiment:
        return []
    cells = []
    for dataset in experiment_datasets(config, ANNOTATION_RATIO_TABLE):
        for variant in experiment["variants"]:
            for fraction in train_fractions(experiment):
                cells.append({"dataset": dataset, "variant": variant, "column": f"clean {100 * fraction:g}%",
                              "setting": experiment["clean_setting"],
                              "run_variant": fraction_variant(variant, fraction)})
            for setting in experiment["noisy_settings"]:
                cells.append({"dataset": dataset, "variant": variant, "column": f"noisy {setting} 100%",
                              "setting": setting, "run_variant": variant})
    return cells


def noise_sweep_points(config: dict[str, Any]) -> list[tuple[Any, str]]:
    """(value, derived setting name) of each point of the ``noise_sweep`` section, in config order."""
    sweep = config.get("noise_sweep")
    if not sweep:
        return []
    return [(value, sweep_setting(sweep["base_setting"], sweep["parameter"], value)) for value in sweep["values"]]


def active_section(config: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The ``tau_search`` or ``noise_sweep`` section when present and its data set is active (else None: a data
    set without a ``path`` is left out, as in the experiments)."""
    section = config.get(key)
    return section if section and section["dataset"] in active_datasets(config) else None


def noise_sweep_runs(config: dict[str, Any]) -> list[Path]:
    """``summary.json`` of every run of the noise sweep (point x variant x seed); none if its data set is off."""
    sweep = active_section(config, "noise_sweep")
    if not sweep:
        return []
    return [run_summary(sweep["dataset"], setting, variant, seed) for _, setting in noise_sweep_points(config)
            for variant in sweep["variants"] for seed in config.get("seeds", [0])]


def derived_entries(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Entries the report axes add, by section: ``noise_settings`` of the sweep points (the base setting with the
    swept parameter replaced) and ``variants`` of Table 9's clean subsets (the variant with ``train_fraction``)."""
    noise_settings: dict[str, Any] = {}
    sweep = config.get("noise_sweep")
    if sweep:
        base = config["noise_settings"][sweep["base_setting"]]
        for value, name in noise_sweep_points(config):
            noise_settings[name] = {**base, sweep["parameter"]: value}
    variants: dict[str, Any] = {}
    experiment = config["experiments"].get(ANNOTATION_RATIO_TABLE)
    if experiment:
        for variant in experiment["variants"]:
            for fraction in train_fractions(experiment):
                name = fraction_variant(variant, fraction)
                if name != variant:
                    entry = copy.deepcopy(config["variants"][variant])
                    entry["training"] = {**entry.get("training", {}), "train_fraction": fraction}
                    variants[name] = entry
    return {"noise_settings": noise_settings, "variants": variants}


def add_derived_entries(config: dict[str, Any]) -> None:
    """Add :func:`derived_entries` to ``config`` in place; a user entry of the same name is an InputError."""
    for section, entries in derived_entries(config).items():
        for name, entry in entries.items():
            if name in config[section] and config[section][name] != entry:
                raise InputError(f"config key {section}.{name}: the name is taken by a derived entry of Table 9 or "
                                 f"the noise sweep; rename it")
            config[section][name] = entry


def noise_resolution(config: dict[str, Any], dataset: str, setting: str) -> str:
    """The resolution ``setting``'s noise is made at for ``dataset``: the data set's entry; for a sweep point its
    base setting's; otherwise (e.g. Table 9's clean label source) ``working``."""
    noise = config["datasets"][dataset]["noise"]
    if setting in noise:
        return noise[setting]
    sweep = config.get("noise_sweep")
    if sweep and setting in {name for _, name in noise_sweep_points(config)}:
        return noise.get(sweep["base_setting"], "working")
    return "working"


def qualitative_datasets(config: dict[str, Any]) -> list[str]:
    """Data sets with a qualitative panel: the active data sets of the ``qualitative`` section's experiment."""
    section = config.get("qualitative")
    return experiment_datasets(config, section["experiment"]) if section else []
