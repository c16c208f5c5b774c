from pathlib import Path

from evaluation.run_description import RunDescription
from priors.distance import DISTANCE_CAP
from workflow.planner.checks import check_config, check_yaml_files, validate_config
from workflow.planner.targets import (
    ANNOTATION_RATIO_TABLE,
    MULTI_RATER_TABLE,
    active_datasets,
    active_section,
    add_derived_entries,
    annotation_ratio_cells,
    experiment_runs,
    method_experiments,
    method_options,
    multi_rater_datasets,
    noise_pairs,
    noise_resolution,
    noise_sweep_points,
    noise_sweep_runs,
    paper_data_sets,
    qualitative_datasets,
    run_tau,
    training_settings,
    unavailable_variants,
)


check_yaml_files(workflow.configfiles)
validate_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
check_config(config)
add_derived_entries(config)  # Table 9's subset variants and the noise sweep's settings

FORMATS = ["md", "csv", "tex"]
FIGURE_FORMATS = ["png", "pdf"]


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9_-]*",
    setting="[A-Za-z0-9][A-Za-z0-9_-]*",
    variant="[A-Za-z0-9][A-Za-z0-9_-]*",
    seed="[0-9]+",
    table="table4|table5|table7|table8",
    tau="[0-9]+(\\.[0-9]+)?",


def run_description(wildcards, input):
    return RunDescription(input)


def dataset_entry(wildcards):
    return config["datasets"][wildcards.dataset]


def dataset_priors(wildcards):
    return config["datasets"][wildcards.dataset].get("priors", {})


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
    tables = expand("results/tables/{table}.{fmt}", table=method_experiments(config), fmt=FORMATS)
    tables += expand("results/tables/{table}_boundary.{fmt}", table=method_experiments(config), fmt=FORMATS)
    compared = [table for table, experiment in config["experiments"].items() if experiment.get("compare_against")]
    costs = expand("results/tables/table10.{fmt}", fmt=FORMATS) if "table4" in config["experiments"] else []
    return tables + costs + expand("results/tables/{table}_paired.{fmt}", table=compared, fmt=FORMATS)


def compared_tables():
    tables = ["table3"] + [table for table in config["experiments"]]
    return [f"results/tables/{table}.csv" for table in tables]


def summary_outputs():
    return expand("results/tables/reproduction_summary.{fmt}", fmt=FORMATS)


def tau_search_outputs():
    if not active_section(config, "tau_search"):
        return []
    figures = expand("results/figures/{figure}.{ext}", figure=["tau_search", "tau_sensitivity"], ext=FIGURE_FORMATS)
    return figures + expand("results/tables/tau_search.{fmt}", fmt=FORMATS)


def report_axis_outputs():
    outputs = []
    if ANNOTATION_RATIO_TABLE in config["experiments"]:
        outputs += expand("results/tables/table9.{fmt}", fmt=FORMATS)
    if active_section(config, "noise_sweep"):
        outputs += expand("results/figures/noise_sweep.{ext}", ext=FIGURE_FORMATS)
        outputs += expand("results/tables/noise_sweep.{fmt}", fmt=FORMATS)
    outputs += expand(
        "results/figures/qualitative_{dataset}.{ext}", dataset=qualitative_datasets(config), ext=FIGURE_FORMATS
    )
    return outputs


def multi_rater_outputs():
    outputs = []
    if MULTI_RATER_TABLE in config["experiments"]:
        outputs += expand("results/tables/{table}.{fmt}", table=["table6", "table6_other_empty_rule"], fmt=FORMATS)
    if multi_rater_datasets(config):
        outputs += expand("results/figures/rater_agreement.{ext}", ext=FIGURE_FORMATS)
        outputs.append("results/tables/rater_agreement.csv")
    return outputs


def multi_rater_table_runs():
    return [str(path) for path in experiment_runs(config, MULTI_RATER_TABLE)]


def rater_agreement_inputs():
    return expand("results/prepared/{dataset}/data.npz", dataset=multi_rater_datasets(config))


def noise_resolution_of(wildcards):
    return noise_resolution(config, wildcards.dataset, wildcards.setting)


def noise_sweep_inputs():
    sweep = active_section(config, "noise_sweep")
    if not sweep:
        return {"runs": [], "noise": []}
    noise = [f"results/noise/{sweep['dataset']}/{setting}/summary.json" for _, setting in noise_sweep_points(config)]
    return {"runs": [str(path) for path in noise_sweep_runs(config)], "noise": noise}


def annotation_ratio_runs():
    return [str(path) for path in experiment_runs(config, ANNOTATION_RATIO_TABLE)]


def annotation_ratio_paper_variant():
    experiment = config["experiments"].get(ANNOTATION_RATIO_TABLE)
    return experiment.get("paper_variant", experiment["variants"][0]) if experiment else None


def qualitative_setting():
    section = config["qualitative"]
    return section.get("setting", config["experiments"][section["experiment"]]["settings"][0])


def qualitative_variants():
    """The panel's variants: its experiment's, less those that cannot run here (MSA without a checkpoint)."""
    unavailable = unavailable_variants(config)
    return [variant for variant in config["experiments"][config["qualitative"]["experiment"]]["variants"]
            if variant not in unavailable]


def qualitative_inputs(wildcards):
    seed = config.get("seeds", [0])[0]
    prefix = f"results/runs/{wildcards.dataset}/{qualitative_setting()}"
    variants = qualitative_variants()
    return {
        "data": f"results/prepared/{wildcards.dataset}/data.npz",
        "split": f"results/prepared/{wildcards.dataset}/split.csv",
        "original_masks": f"results/prepared/{wildcards.dataset}/original_masks.npz",
        "predictions": [f"{prefix}/{variant}/seed{seed}/predictions.npz" for variant in variants],
    }


def qualitative_parameters(wildcards):
    setting = qualitative_setting()
    return {
        "setting": setting,
        "setting_spec": config["noise_settings"][setting],
        "resolution": noise_resolution(config, wildcards.dataset, setting),
        "variants": qualitative_variants(),
        "n_images": config["qualitative"].get("n_images", 3),
        "seed": config["seed"],
    }


def boundary_inputs(wildcards):
    runs = experiment_runs(config, wildcards.table)
    datasets = sorted({path.parent.parent.parent.parent.name for path in runs})
    return {
        "predictions": [str(path.with_name("predictions.npz")) for path in runs],
        "data": [f"results/prepared/{dataset}/data.npz" for dataset in datasets],
        "split": [f"results/prepared/{dataset}/split.csv" for dataset in datasets],
    }


def tau_search_epochs():
    search = active_section(config, "tau_search")
    if not search:
        return []
    return [
        f"results/tau_search/{search['dataset']}/{search['setting']}/{search['variant']}/tau{tau}/epochs.csv"
        for tau in search["taus"]
    ]


def tau_search_summaries():
    return [path.replace("epochs.csv", "summary.json") for path in tau_search_epochs()]


def tau_search_noise_summary():
    search = active_section(config, "tau_search")
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
    method, options = method_options(config, wildcards.variant, wildcards.dataset, wildcards.setting)
    return {
        "method": method,
        "method_options": options,
        "training": training_settings(config, wildcards.dataset, wildcards.variant),
        "tau": run_tau(config, wildcards.dataset, wildcards.setting),
        "seed": int(wildcards.seed),
    }


def tau_search_parameters(wildcards):
    method, options = method_options(config, wildcards.variant, wildcards.dataset, wildcards.setting)
    return {
        "method": method,
        "method_options": options,
        "training": training_settings(config, wildcards.dataset, wildcards.variant),
        "tau": float(wildcards.tau),
        "seed": config.get("seeds", [0])[0],
    }


def training_threads(wildcards):
    return training_settings(config, wildcards.dataset, wildcards.variant).get("threads", 1)
