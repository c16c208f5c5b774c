#!/usr/bin/env bash
# GPU check, for a machine with a CUDA GPU (not run on the development machine): training throughput on cuda,
# deterministic reruns and compile timing (benchmarks/cuda_options.py), then the paper's Kvasir column on one GPU
# (benchmarks/paper_kvasir.py, full scale, runs packed by jobs_per_gpu), with nvidia-smi sampled every 5 s;
# everything it measures goes under $OUT (default ./gpu-out): throughput.txt, cuda_options.txt, paper_kvasir.txt
# (Dice vs the paper, minutes per run; the workflow's log: paper_kvasir.log), table4.{md,csv},
# runs/<variant>/{summary.json,epochs.csv}, nvidia-smi.csv, paper_kvasir_epochs.png (per-epoch Dice and time).
# Run from the repository: OUT=/some/folder DATA=/path/to/kvasir-seg bash benchmarks/gpu_check.sh
# Options by environment: PYTHON (default python), DATA (default ../shared/data/kvasir-seg, else
# ./shared/data/kvasir-seg), METHODS (default "CE JoCoR GSD-Net"), THROUGHPUT_SIZE (default 256), PARTS (default
# "throughput options paper": the parts to run, so that a machine with a per-command time limit can run them in turn).
set -euo pipefail

OUT=${OUT:-./gpu-out}
PYTHON=${PYTHON:-python}
METHODS=${METHODS:-CE JoCoR GSD-Net}
THROUGHPUT_SIZE=${THROUGHPUT_SIZE:-256}
PARTS=${PARTS:-throughput options paper}
DATA=${DATA:-../shared/data/kvasir-seg}
[ -d "$DATA/images" ] || DATA=./shared/data/kvasir-seg
[ -d "$DATA/images" ] || { echo "error: DATA=$DATA: no Kvasir-SEG release there (images/, masks/)" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORKDIR="$OUT/paper-kvasir-run"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'error: torch sees no CUDA device')"
nvidia-smi | tee "$OUT/nvidia-smi-start.txt"
part() { [[ " $PARTS " == *" $1 "* ]]; }

# 1. Engine vs bare-loop throughput on cuda only (the script's CPU pass would take minutes at 256x256).
if part throughput; then
"$PYTHON" - "$THROUGHPUT_SIZE" <<'EOF' 2>&1 | tee "$OUT/throughput.txt"
import sys, tempfile
from pathlib import Path
import torch
from benchmarks.training_throughput import measure_throughput
from training.synthetic_inputs import write_synthetic_inputs

size = int(sys.argv[1])
print(f"cuda {torch.cuda.get_device_name()}, size {size}, batch 16, images/s: engine, bare, ratio")
with tempfile.TemporaryDirectory() as tmp:
    prepared, noise = write_synthetic_inputs(Path(tmp), n_train=32, n_test=2, size=size)
    for method in ("ce", "jocor", "gsdnet"):
        for epoch in (0, 50):
            for setting in ("channels_last/fp32", "channels_last/bf16"):
                memory_format, precision = setting.split("/")
                engine, bare, ratio = measure_throughput(method, prepared, noise, "cuda", 16, 10, 3, epoch=epoch,
                                                         memory_format=memory_format, precision=precision)
                print(f"{method:8s} epoch {epoch:3d} {setting:20s} {engine:8.1f} {bare:8.1f} {ratio:6.2f}", flush=True)
EOF
fi

# 2. deterministic: true reruns (exact?) and compile: true against plain, seconds per epoch.
if part options; then
    "$PYTHON" benchmarks/cuda_options.py --device cuda 2>&1 | tee "$OUT/cuda_options.txt"
fi

part paper || exit 0
# 3. The paper's Kvasir column, GPU use sampled beside it.
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used,memory.total --format=csv -l 5 \
    > "$OUT/nvidia-smi.csv" &
SMI_PID=$!
trap 'kill "$SMI_PID" 2>/dev/null || true' EXIT
# shellcheck disable=SC2086  # METHODS is a list of names
"$PYTHON" benchmarks/paper_kvasir.py --data "$DATA" --workdir "$WORKDIR" --methods $METHODS \
    2> "$OUT/paper_kvasir.log" | tee "$OUT/paper_kvasir.txt"
kill "$SMI_PID" 2>/dev/null || true

# 4. Results and a figure: per-epoch Dice (where evaluated) and training time of every run.
cp "$WORKDIR"/results/tables/table4.md "$WORKDIR"/results/tables/table4.csv "$OUT"/
for run in "$WORKDIR"/results/runs/kvasir/S_R/*/seed0; do
    mkdir -p "$OUT/runs/$(basename "$(dirname "$run")")"
    cp "$run/summary.json" "$run/epochs.csv" "$OUT/runs/$(basename "$(dirname "$run")")/"
done
"$PYTHON" - "$OUT" <<'EOF'
import sys
from pathlib import Path
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

out = Path(sys.argv[1])
figure, (dice_axis, time_axis) = plt.subplots(1, 2, figsize=(10, 4))
for epochs_csv in sorted((out / "runs").glob("*/epochs.csv")):
    epochs = pd.read_csv(epochs_csv)
    scored = epochs.dropna(subset=["dice_batch_mean"])
    dice_axis.plot(scored["epoch"], 100 * scored["dice_batch_mean"], marker="o", label=epochs_csv.parent.name)
    time_axis.plot(epochs["epoch"], epochs["train_seconds"].cumsum() / 60, label=epochs_csv.parent.name)
dice_axis.set(xlabel="epoch", ylabel="test Dice (%)", title="Kvasir-SEG S_R, evaluated epochs")
time_axis.set(xlabel="epoch", ylabel="training minutes", title="runs packed on one GPU")
dice_axis.legend()
figure.tight_layout()
figure.savefig(out / "paper_kvasir_epochs.png", dpi=120)
print(f"wrote {out / 'paper_kvasir_epochs.png'}")
EOF
