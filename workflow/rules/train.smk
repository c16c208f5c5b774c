rule train:
    input:
        unpack(training_inputs),
    output:
        summary="results/runs/{dataset}/{setting}/{variant}/seed{seed}/summary.json",
        epochs="results/runs/{dataset}/{setting}/{variant}/seed{seed}/epochs.csv",
        per_image="results/runs/{dataset}/{setting}/{variant}/seed{seed}/per_image.csv",
        predictions="results/runs/{dataset}/{setting}/{variant}/seed{seed}/predictions.npz",
    params:
        run=run_parameters,
        checkpoint_dir="results/checkpoints/{dataset}/{setting}/{variant}/seed{seed}",
    log:
        "results/logs/train/{dataset}/{setting}/{variant}/seed{seed}.log",
    threads: training_threads
    resources:
        gpu=1,  # one device per run; limited only by --resources gpu=N (see docs/cluster.md)
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/train.py"


rule tau_search_train:
    input:
        unpack(training_inputs),
    output:
        summary="results/tau_search/{dataset}/{setting}/{variant}/tau{tau}/summary.json",
        epochs="results/tau_search/{dataset}/{setting}/{variant}/tau{tau}/epochs.csv",
        per_image="results/tau_search/{dataset}/{setting}/{variant}/tau{tau}/per_image.csv",
        predictions="results/tau_search/{dataset}/{setting}/{variant}/tau{tau}/predictions.npz",
    params:
        run=tau_search_parameters,
        checkpoint_dir="results/checkpoints/tau_search/{dataset}/{setting}/{variant}/tau{tau}",
    log:
        "results/logs/tau_search/{dataset}/{setting}/{variant}/tau{tau}.log",
    threads: training_threads
    resources:
        gpu=1,  # one device per run; limited only by --resources gpu=N (see docs/cluster.md)
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/train.py"
