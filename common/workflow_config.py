"""The workflow's view of the configuration: which data sets, noise settings and runs make up the DAG.

Snakemake's ``common.smk`` calls these functions; they are plain Python so they are unit-tested. The schema
(``workflow/schemas/config.schema.yaml``) checks types and names; :func:`check_config` checks what a schema
cannot: cross references between sections.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from common.errors import InputError
from common.run_key import RunKey

#: Adapters that generate their data and need no ``path``.
GENERATED_ADAPTERS = frozenset({"synthetic", "synthetic_3d"})

RESULTS = Path("results")


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


def validate_config(config: dict[str, Any], schema_path: str | Path) -> None:
    """Validate ``config`` against the YAML schema at ``schema_path``; the most relevant problem (jsonschema's
    ``best_match``) is a one-line InputError naming the key."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    error = best_match(validator_for(schema)(schema).iter_errors(config))
    if error is not None:
        key = ".".join(str(part) for part in error.absolute_path)
        message = " ".join(error.message.split())
        raise InputError(f"config key {key}: {message}" if key else f"config: {message}")


def check_registry_names(config: dict[str, Any]) -> None:
    """Every adapter, method and backbone name of ``config`` is registered (the schema does not list them); the
    first unknown one is an InputError naming its key and the known names."""
    from adapters.registry import ADAPTERS
    from methods.registry import METHODS
    from training.networks import BACKBONES

    trainings = {"training": config.get("training", {})}
    for dataset, entry in config["datasets"].items():
        ADAPTERS.check(entry["adapter"], f"datasets.{dataset}.adapter")
        for method in entry.get("method_options", {}):
            METHODS.check(method, f"datasets.{dataset}.method_options")
        trainings[f"datasets.{dataset}.training"] = entry.get("training", {})
    for variant, spec in config["variants"].items():
        METHODS.check(spec["method"], f"variants.{variant}.method")
        trainings[f"variants.{variant}.training"] = spec.get("training", {})
    for key, training in trainings.items():
        if "backbone" in training:
            BACKBONES.check(training["backbone"], f"{key}.backbone")


def check_config(config: dict[str, Any]) -> None:
    """Cross-reference checks after schema validation; the first problem is an InputError naming the key."""
    from methods import build_method, get_method
    from methods.registry import METHODS

    check_registry_names(config)
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
    unavailable = unavailable_variants(config)
    for variant in config["variants"]:
        method, options = method_options(config, variant)
        if variant in unavailable:
            continue
        get_method(method).check_config(options, f"variants.{variant}")
        try:
            build_method(method, **options)
        except InputError as error:
            raise InputError(f"config key variants.{variant}: {error}") from None
    for dataset, entry in config["datasets"].items():
        for setting, by_method in entry.get("setting_method_options", {}).items():
            if setting not in entry["noise"]:
                raise InputError(f"config key datasets.{dataset}.setting_method_options.{setting}: {setting!r} is not "
                                 f"in datasets.{dataset}.noise")
            for method in by_method:
                METHODS.check(method, f"datasets.{dataset}.setting_method_options.{setting}.{method}")
        overrides = [(None, method, f"method_options.{method}") for method in entry.get("method_options", {})]
        overrides += [(setting, method, f"setting_method_options.{setting}.{method}")
                      for setting, by_method in entry.get("setting_method_options", {}).items() for method in by_method]
        for setting, method, key in overrides:
            variant = next((name for name, spec in config["variants"].items()
                            if spec["method"] == method and name not in unavailable), None)
            if variant is None:
                continue
            try:
                name, options = method_options(config, variant, dataset, setting)
                build_method(name, **options)
            except InputError as error:
                raise InputError(f"config key datasets.{dataset}.{key}: {error}") from None
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
        for setting in experiment.get("settings", []):
            if setting not in settings:
                raise InputError(f"config key experiments.{table}.settings: unknown noise setting {setting!r}")
    check_report_axes(config)
    table6 = config["experiments"].get(MULTI_RATER_TABLE)
    if table6:
        for variant in table6.get("sampled_variants", []):
            if variant not in config["variants"]:
                raise InputError(f"config key experiments.{MULTI_RATER_TABLE}.sampled_variants: unknown variant "
                                 f"{variant!r}; defined: {', '.join(config['variants'])}")
        for setting in table6["settings"]:
            if setting in settings and not is_rater_source(config, setting):
                raise InputError(f"config key experiments.{MULTI_RATER_TABLE}.settings: {setting!r} is not a rater "
                                 f"label source (model: rater); Table 6 scores training on raters' labels")
    search = config.get("tau_search")
    if search:
        for key, known in (("dataset", config["datasets"]), ("setting", settings), ("variant", config["variants"])):
            if search[key] not in known:
                raise InputError(f"config key tau_search.{key}: unknown {key} {search[key]!r}; "
                                 f"defined: {', '.join(known)}")
    for dataset in active:
        for variant in config["variants"]:
            training = training_settings(config, dataset, variant)
            if training.get("eval_last_k", 1) > training.get("epochs", 1):
                raise InputError(f"config key {training_key(config, dataset, variant, 'eval_last_k')}: "
                                 f"{training['eval_last_k']} is more than "
                                 f"{training_key(config, dataset, variant, 'epochs')} ({training['epochs']}) for "
                                 f"data set {dataset}, variant {variant}")
    check_run_inputs(config)


def training_key(config: dict[str, Any], dataset: str, variant: str, key: str) -> str:
    """The config key, as written, that sets training setting ``key`` for (``dataset``, ``variant``): the
    variant's override, else the data set's, else the global one."""
    if key in config["variants"][variant].get("training", {}):
        return f"variants.{variant}.training.{key}"
    if key in config["datasets"][dataset].get("training", {}):
        return f"datasets.{dataset}.training.{key}"
    return f"training.{key}"


def _non_finite(value: Any, key: str) -> str | None:
    """The first key under ``value`` holding NaN or an infinity, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return key
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return next((found for child, item in items if (found := _non_finite(item, f"{key}.{child}"))), None)


def check_run_inputs(config: dict[str, Any]) -> None:
    """Checks that would otherwise fail inside a job: empty paths, duplicate seeds, NaN/inf noise parameters, a
    backbone that cannot take a data set's working size, a batch larger than a generated training set."""
    from training.networks import check_input_size

    seeds = config.get("seeds", [0])
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise InputError(f"config key seeds: seed(s) {', '.join(map(str, repeated))} listed twice")
    for name, spec in config["noise_settings"].items():
        found = _non_finite(spec, f"noise_settings.{name}")
        if found:
            raise InputError(f"config key {found}: must be a finite number, got {spec_value(spec, found)}")
    for dataset, entry in config["datasets"].items():
        if entry.get("path") == "":
            raise InputError(f"config key datasets.{dataset}.path: empty; give the data set's folder, or null to "
                             "leave the data set out")
    for dataset in active_datasets(config):
        check_adapter_options(dataset, config["datasets"][dataset])
    unavailable = unavailable_variants(config)
    for dataset, variant in planned_pairs(config):
        if variant in unavailable:
            continue
        entry = config["datasets"][dataset]
        size = entry["working_size"]
        shape = tuple(size) if isinstance(size, list) else (size, size)
        training = training_settings(config, dataset, variant)
        backbone = training.get("backbone", "unet_small")
        try:
            check_input_size(backbone, shape)
        except (InputError, KeyError) as error:
            raise InputError(f"config key {training_key(config, dataset, variant, 'backbone')} "
                             f"(datasets.{dataset}.working_size): {error}") from None
        n_train = entry.get("options", {}).get("n_train") if entry["adapter"] in GENERATED_ADAPTERS else None
        batch = training.get("batch_size", 1)
        if n_train is not None and batch > n_train:
            raise InputError(f"config key {training_key(config, dataset, variant, 'batch_size')}: {batch} is "
                             f"more than the {n_train} training images of data set {dataset}")


def check_adapter_options(dataset: str, entry: dict[str, Any]) -> None:
    """A data set's adapter options: known to its adapter, and of the type of the option's default (an int where
    the default is a float is fine); the first problem is an InputError naming ``datasets.{dataset}.options.KEY``."""
    from adapters.base import COMMON_OPTIONS
    from adapters.registry import ADAPTERS

    adapter = ADAPTERS.get(entry["adapter"])
    known = {**COMMON_OPTIONS, **adapter.extra_options}
    for key, value in entry.get("options", {}).items():
        where = f"config key datasets.{dataset}.options.{key}"
        if key not in known:
            raise InputError(f"{where}: unknown option of adapter {entry['adapter']!r}; known options: "
                             f"{', '.join(sorted(known))}")
        default = known[key]
        if default is None or value is None:
            continue
        kind = float if isinstance(default, float) else type(default)
        valid = isinstance(value, int | float) and not isinstance(value, bool) if kind is float else (
            isinstance(value, kind) and not (kind is int and isinstance(value, bool)))
        if not valid:
            raise InputError(f"{where}: must be {kind.__name__}, got {value!r}")


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


def spec_value(spec: dict[str, Any], key: str) -> Any:
    """The value at dotted ``key`` (its first part names the setting) inside ``spec``."""
    value: Any = spec
    for part in key.split(".")[2:]:
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


class _DuplicateKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a mapping with a key given twice."""


def _refuse_duplicates(loader: _DuplicateKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise InputError(f"{loader.name}: line {key_node.start_mark.line + 1}: duplicate key {key!r}")
        seen.add(key)
    return loader.construct_mapping(node)


_DuplicateKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _refuse_duplicates)


def check_yaml_files(paths: list[str | Path]) -> None:
    """Refuse a config file with a duplicate key (YAML keeps the last one silently), naming file, key and line."""
    for path in paths:
        with open(path) as handle:
            loader = _DuplicateKeyLoader(handle)
            loader.name = str(path)
            try:
                loader.get_single_data()
            finally:
                loader.dispose()


# Report axes: Table 9 (annotation ratio), the noise sweep (Fig. 11), the qualitative panels.

#: The experiment rendered as Table 9 (clean subsets vs all noisy labels), not as a method table.
ANNOTATION_RATIO_TABLE = "table9"
#: The paper's shares of clean training labels in Table 9.
DEFAULT_TRAIN_FRACTIONS = (1.0, 0.5, 0.25, 0.125)


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


#: The experiment rendered as Table 6 (Dice against each rater of a multi-rater set), not as a method table.
MULTI_RATER_TABLE = "table6"


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


def check_report_axes(config: dict[str, Any]) -> None:
    """Cross references of ``experiments.table9``, ``noise_sweep`` and ``qualitative``; InputError naming the key."""
    from noise.settings import parse_setting

    settings, variants = config["noise_settings"], config["variants"]
    experiment = config["experiments"].get(ANNOTATION_RATIO_TABLE)
    if experiment:
        prefix = f"config key experiments.{ANNOTATION_RATIO_TABLE}"
        for setting in [experiment["clean_setting"], *experiment["noisy_settings"]]:
            if setting not in settings:
                raise InputError(f"{prefix}: unknown noise setting {setting!r}; defined: {', '.join(settings)}")
        if experiment.get("paper_variant", experiment["variants"][0]) not in experiment["variants"]:
            raise InputError(f"{prefix}.paper_variant: {experiment['paper_variant']!r} is not one of its variants")
    sweep = config.get("noise_sweep")
    if sweep:
        for key, known in (("dataset", config["datasets"]), ("base_setting", settings)):
            if sweep[key] not in known:
                raise InputError(f"config key noise_sweep.{key}: unknown {sweep[key]!r}; defined: {', '.join(known)}")
        for variant in sweep["variants"]:
            if variant not in variants:
                raise InputError(f"config key noise_sweep.variants: unknown variant {variant!r}")
        base = settings[sweep["base_setting"]]
        if sweep["parameter"] == "model" or sweep["parameter"] not in _setting_keys(base):
            raise InputError(f"config key noise_sweep.parameter: {sweep['parameter']!r} is not a parameter of "
                             f"model {base['model']} (setting {sweep['base_setting']})")
        for value, name in noise_sweep_points(config):
            try:
                parse_setting(name, {**base, sweep["parameter"]: value})
            except InputError as error:
                raise InputError(f"config key noise_sweep.values: {value!r}: {error}") from None
        if len({name for _, name in noise_sweep_points(config)}) != len(sweep["values"]):
            raise InputError("config key noise_sweep.values: repeated value")
    section = config.get("qualitative")
    if section:
        table = section["experiment"]
        if table not in method_experiments(config):
            raise InputError(f"config key qualitative.experiment: {table!r} is not a method table of experiments")
        if "setting" in section and section["setting"] not in config["experiments"][table]["settings"]:
            raise InputError(f"config key qualitative.setting: {section['setting']!r} is not in "
                             f"experiments.{table}.settings")


def _setting_keys(spec: dict[str, Any]) -> set[str]:
    """The parameters a noise model takes (its optional ones included)."""
    optional = {"markov": {"theta3"}}
    return set(spec) | optional.get(spec["model"], set())
