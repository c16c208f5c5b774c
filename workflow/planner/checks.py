"""Config checks before the first job: the schema (``workflow/schemas/config.schema.yaml``) checks types and
names; :func:`check_config` checks what a schema cannot: cross references between sections, and what would otherwise
fail inside a job."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from common.errors import InputError
from workflow.planner.targets import (
    ANNOTATION_RATIO_TABLE,
    MULTI_RATER_TABLE,
    RESULTS,
    active_datasets,
    experiment_datasets,
    is_rater_source,
    method_experiments,
    method_options,
    noise_sweep_points,
    planned_pairs,
    train_fractions,
    training_settings,
    unavailable_variants,
)

#: The config's schema (``workflow/schemas/config.schema.yaml``).
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


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
    backbone that cannot take a data set's working size, a batch larger than the training set (or the Table 9 /
    ``train_fraction`` subset of it) where :func:`training_set_size` knows it."""
    from training.data import subset_size
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
    table9 = config["experiments"].get(ANNOTATION_RATIO_TABLE)
    sizes: dict[str, int | None] = {}
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
        if dataset not in sizes:
            sizes[dataset] = training_set_size(config, dataset)
        n_train = sizes[dataset]
        if n_train is None:
            continue
        batch = training.get("batch_size", 1)
        fractions = {training.get("train_fraction", 1.0): training_key(config, dataset, variant, "train_fraction")}
        if table9 and variant in table9["variants"] and dataset in experiment_datasets(config, ANNOTATION_RATIO_TABLE):
            for fraction in train_fractions(table9):
                fractions.setdefault(fraction, f"experiments.{ANNOTATION_RATIO_TABLE}.train_fractions")
        for fraction, fraction_key in sorted(fractions.items(), reverse=True):
            used = subset_size(n_train, fraction)
            if batch > used:
                subset = f" at train_fraction {fraction:g} ({fraction_key})" if fraction < 1.0 else ""
                raise InputError(f"config key {training_key(config, dataset, variant, 'batch_size')}: {batch} is "
                                 f"more than the {used} training images of data set {dataset}{subset}")


def training_set_size(config: dict[str, Any], dataset: str) -> int | None:
    """The number of training images of ``dataset`` before any job: ``n_train`` of its prepared
    ``metadata.json`` where it exists, else the count its adapter's listing gives
    (:func:`adapters.prepare.listed_train_count`); None where only loading the data tells."""
    from adapters.prepare import listed_train_count

    metadata = RESULTS / "prepared" / dataset / "metadata.json"
    if metadata.is_file():
        try:
            return int(json.loads(metadata.read_text())["n_train"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
    entry = config["datasets"][dataset]
    return listed_train_count(dataset, entry["adapter"], entry.get("path"), entry.get("options"), config["seed"],
                              entry.get("n_test"), entry.get("test_fraction"))


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


def spec_value(spec: dict[str, Any] | list[Any], key: str) -> Any:
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
        check_sweep_values(sweep, base)
        for index, (value, name) in enumerate(noise_sweep_points(config)):
            try:
                parse_setting(name, {**base, sweep["parameter"]: value})
            except InputError as error:
                raise InputError(f"config key noise_sweep.values.{index}: {value!r}: {error}") from None
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


def check_sweep_values(sweep: dict[str, Any], base: dict[str, Any]) -> None:
    """Each ``noise_sweep`` value as the setting it derives from ``base``: the schema of a written noise setting
    and finite numbers; the first problem is an InputError naming ``noise_sweep.values.<i>``."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    settings_only = {**schema, "required": [], "properties": {"noise_settings": schema["properties"]["noise_settings"]}}
    validator = validator_for(settings_only)(settings_only)
    for index, value in enumerate(sweep["values"]):
        key = f"noise_sweep.values.{index}"
        error = best_match(validator.iter_errors({"noise_settings": {"derived": {**base, sweep["parameter"]: value}}}))
        if error is not None:
            inner = list(error.absolute_path)[2:]
            where = ".".join([key, *map(str, inner[1:])]) if inner[:1] == [sweep["parameter"]] else key
            raise InputError(f"config key {where}: {' '.join(error.message.split())}")
        found = _non_finite(value, key)
        if found:
            raise InputError(f"config key {found}: must be a finite number, got {spec_value(sweep['values'], found)}")


def _setting_keys(spec: dict[str, Any]) -> set[str]:
    """The parameters a noise model takes (its optional ones included)."""
    optional = {"markov": {"theta3"}}
    return set(spec) | optional.get(spec["model"], set())
