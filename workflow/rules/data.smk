rule prepare_dataset:
    output:
        data="results/prepared/{dataset}/data.npz",
        original_masks="results/prepared/{dataset}/original_masks.npz",
        split="results/prepared/{dataset}/split.csv",
        metadata="results/prepared/{dataset}/metadata.json",
    params:
        entry=dataset_entry,
        seed=config["seed"],
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    threads: config.get("workers", 1)
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/prepare_dataset.py"


rule superpixels:
    input:
        data="results/prepared/{dataset}/data.npz",
        split="results/prepared/{dataset}/split.csv",
    output:
        "results/prepared/{dataset}/superpixels.npz",
    params:
        channels=lambda wildcards: dataset_priors(wildcards).get("slic_channels"),
        n_segments=lambda wildcards: dataset_priors(wildcards).get("slic_segments"),
    log:
        "results/logs/superpixels/{dataset}.log",
    threads: config.get("workers", 1)
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/superpixels.py"
