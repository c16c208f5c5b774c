import os

from common.gpu_slots import JOBS_PER_GPU_ENV

# Several training runs per GPU (config `jobs_per_gpu: k`, docs/cluster.md). Each training job asks for gpu=1, one
# GPU slot; `--resources gpu=N` (N devices) is scaled here to N x k slots, and the slot each job locks
# (common/gpu_slots.py, told k through the environment the jobs inherit) is on device slot // k.
JOBS_PER_GPU = config.get("jobs_per_gpu", 1)
os.environ[JOBS_PER_GPU_ENV] = str(JOBS_PER_GPU)
GPUS = workflow.global_resources.get("gpu").value   # None without --resources gpu=N: no limit to scale
if JOBS_PER_GPU > 1 and GPUS is not None:
    workflow.register_resource("gpu", GPUS * JOBS_PER_GPU)


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
        gpu=1,  # one GPU slot per run: --resources gpu=N admits N x jobs_per_gpu runs (docs/cluster.md)
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
        gpu=1,  # one GPU slot per run: --resources gpu=N admits N x jobs_per_gpu runs (docs/cluster.md)
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/train.py"
