rule simulate_noise:
    input:
        data="results/prepared/{dataset}/data.npz",
        original_masks="results/prepared/{dataset}/original_masks.npz",
        split="results/prepared/{dataset}/split.csv",
    output:
        masks="results/noise/{dataset}/{setting}/noisy_masks.npz",
        stats="results/noise/{dataset}/{setting}/stats.csv",
        summary="results/noise/{dataset}/{setting}/summary.json",
    params:
        setting=lambda wildcards: config["noise_settings"][wildcards.setting],
        resolution=noise_resolution_of,
        seed=config["seed"],
    log:
        "results/logs/simulate_noise/{dataset}/{setting}.log",
    threads: config.get("workers", 1)
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/simulate_noise.py"


rule distance_maps:
    input:
        "results/noise/{dataset}/{setting}/noisy_masks.npz",
    output:
        "results/noise/{dataset}/{setting}/distance_maps.npz",
    params:
        cap=lambda wildcards: dataset_priors(wildcards).get("distance_cap", DISTANCE_CAP),
    log:
        "results/logs/distance_maps/{dataset}/{setting}.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/distance_maps.py"
