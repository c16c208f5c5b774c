rule train:
    input:
        data="results/prepared/{dataset}/data.npz",
        split="results/prepared/{dataset}/split.csv",
        superpixels="results/prepared/{dataset}/superpixels.npz",
        noisy_masks="results/noise/{dataset}/{setting}/noisy_masks.npz",
        noise_summary="results/noise/{dataset}/{setting}/summary.json",
        distance_maps="results/noise/{dataset}/{setting}/distance_maps.npz",
    output:
        summary="results/runs/{dataset}/{setting}/{variant}/seed{seed}/summary.json",
        epochs="results/runs/{dataset}/{setting}/{variant}/seed{seed}/epochs.csv",
        per_image="results/runs/{dataset}/{setting}/{variant}/seed{seed}/per_image.csv",
    params:
        run=run_parameters,
        checkpoint_dir="results/checkpoints/{dataset}/{setting}/{variant}/seed{seed}",
    log:
        "results/logs/train/{dataset}/{setting}/{variant}/seed{seed}.log",
    threads: training_threads
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/train.py"
