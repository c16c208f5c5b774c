from pathlib import Path

from common.workflow_config import (
    active_datasets,
    check_config,
    experiment_runs,
    method_options,
    noise_pairs,
    run_tau,
    training_settings,
    validate_config,
)


validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
check_config(config)

FORMATS = ["md", "csv", "tex"]


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9_-]*",
    setting="[A-Za-z0-9][A-Za-z0-9_-]*",
    variant="[A-Za-z0-9][A-Za-z0-9_-]*",
    seed="[0-9]+",
    table="table4|table7|table8",
    tau="[0-9]+(\\.[0-9]+)?",


def dataset_entry(wildcards):
    return config["datasets"][wildcards.dataset]


def noise_summaries():
    return [f"results/noise/{dataset}/{setting}/summary.json" for dataset, setting in noise_pairs(config)]


def training_inputs(wildcards):
    prepared = f"results/prepared/{wildcards.dataset}"
    noise = f"results/noise/{wildcards.dataset}/{wildcards.setting}"
    return {
        "data": f"{prepared}/data.npz",
        "split": f"{prepared}/split.csv",
        "superpixels": f"{prepared}/superpixels.npz",
        "noisy_masks": f"{noise}/noisy_masks.npz",
        "noise_summary": f"{noise}/summary.json",
        "distance_maps": f"{noise}/distance_maps.npz",
    }


def noise_outputs():
    return expand("results/tables/table3.{fmt}", fmt=FORMATS) + ["results/figures/noise_examples.png"]


def method_table_outputs():
    tables = expand("results/tables/{table}.{fmt}", table=list(config["experiments"]), fmt=FORMATS)
    compared = [table for table, experiment in config["experiments"].items() if experiment.get("compare_against")]
    costs = expand("results/tables/table10.{fmt}", fmt=FORMATS) if "table4" in config["experiments"] else []
    return tables + costs + expand("results/tables/{table}_paired.{fmt}", table=compared, fmt=FORMATS)


def compared_tables():
    tables = ["table3"] + [table for table in config["experiments"]]
    return [f"results/tables/{table}.csv" for table in tables]


def summary_outputs():
    return expand("results/tables/reproduction_summary.{fmt}", fmt=FORMATS)


def tau_search_outputs():
    if "tau_search" not in config:
        return []
    return ["results/figures/tau_search.png"] + expand("results/tables/tau_search.{fmt}", fmt=FORMATS)


def tau_search_epochs():
    search = config.get("tau_search")
    if not search:
        return []
    return [
        f"results/tau_search/{search['dataset']}/{search['setting']}/{search['variant']}/tau{tau}/epochs.csv"
        for tau in search["taus"]
    ]


def tau_search_noise_summary():
    search = config.get("tau_search")
    return [f"results/noise/{search['dataset']}/{search['setting']}/summary.json"] if search else []


def prepared_metadata():
    return expand("results/prepared/{dataset}/metadata.json", dataset=active_datasets(config))


def noise_dirs_by_dataset():
    return {
        dataset: [f"results/noise/{dataset}/{setting}" for setting in config["datasets"][dataset]["noise"]]
        for dataset in active_datasets(config)
    }


def table_runs(wildcards):
    return [str(path) for path in experiment_runs(config, wildcards.table)]


def table_per_image(wildcards):
    return [str(path.with_name("per_image.csv")) for path in experiment_runs(config, wildcards.table)]


def run_parameters(wildcards):
    method, options = method_options(config, wildcards.variant)
    return {
        "method": method,
        "method_options": options,
        "training": training_settings(config, wildcards.dataset, wildcards.variant),
        "tau": run_tau(config, wildcards.dataset, wildcards.setting),
        "seed": int(wildcards.seed),
    }


def tau_search_parameters(wildcards):
    method, options = method_options(config, wildcards.variant)
    return {
        "method": method,
        "method_options": options,
        "training": training_settings(config, wildcards.dataset, wildcards.variant),
        "tau": float(wildcards.tau),
        "seed": config.get("seeds", [0])[0],
    }


def training_threads(wildcards):
    return training_settings(config, wildcards.dataset, wildcards.variant).get("threads", 1)
