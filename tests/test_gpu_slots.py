"""GPU slots for concurrent local training jobs: distinct CUDA_VISIBLE_DEVICES (or k jobs per device with
jobs_per_gpu), simulated without a GPU; and, through a real Snakemake run, the N x k limit of train.smk."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import re
import subprocess
import sys
import time
from collections import Counter
from itertools import combinations
from pathlib import Path

import pytest

from common import gpu_slots
from common.gpu_slots import COUNT_ENV, JOBS_PER_GPU_ENV, VISIBLE_ENV, gpu_slot, jobs_per_gpu, shared_devices

ROOT = Path(__file__).resolve().parents[1]

SPAWN = multiprocessing.get_context("spawn")
JOIN_TIMEOUT_S = 60


def hold_until_all_hold(lock_dir: str, barrier, results) -> None:
    """Take a slot, report it, and keep it until every other process holds one too."""
    with gpu_slot(lock_dir, poll_seconds=0.05) as device:
        results.put((device, os.environ.get(VISIBLE_ENV)))
        barrier.wait(timeout=JOIN_TIMEOUT_S)


def hold_for_a_while(lock_dir: str, seconds: float, results) -> None:
    """Take a slot and report it with the (system-wide monotonic) times it was held."""
    with gpu_slot(lock_dir, poll_seconds=0.02) as device:
        entered = time.monotonic()
        time.sleep(seconds)
        left = time.monotonic()
    results.put((device, entered, left))


def die_holding(lock_dir: str) -> None:
    """Take a slot and end the process at once, with no clean-up."""
    with gpu_slot(lock_dir):
        os._exit(0)


def run_all(target, args_per_process: list[tuple]) -> None:
    processes = [SPAWN.Process(target=target, args=args) for args in args_per_process]
    for process in processes:
        process.start()
    for process in processes:
        process.join(JOIN_TIMEOUT_S)
    assert all(process.exitcode == 0 for process in processes), [process.exitcode for process in processes]


def drain(results, count: int) -> list:
    return [results.get(timeout=JOIN_TIMEOUT_S) for _ in range(count)]


@pytest.fixture(autouse=True)
def no_gpu_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Start from a machine without GPUs and without device variables."""
    monkeypatch.delenv(VISIBLE_ENV, raising=False)
    monkeypatch.delenv(COUNT_ENV, raising=False)
    monkeypatch.delenv(JOBS_PER_GPU_ENV, raising=False)
    monkeypatch.setattr(gpu_slots, "DRIVER_GPUS_DIR", tmp_path / "no-driver")


def test_concurrent_holders_get_distinct_devices(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(COUNT_ENV, "3")
    barrier, results = SPAWN.Barrier(3), SPAWN.Queue()
    run_all(hold_until_all_hold, [(str(tmp_path / "slots"), barrier, results)] * 3)
    held = drain(results, 3)
    assert sorted(device for device, _ in held) == ["0", "1", "2"]
    assert all(device == visible for device, visible in held)


def test_holders_beyond_the_device_count_wait_for_a_free_device(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setenv(COUNT_ENV, "2")
    results = SPAWN.Queue()
    run_all(hold_for_a_while, [(str(tmp_path / "slots"), 0.5, results)] * 5)
    held = drain(results, 5)
    assert {device for device, _, _ in held} <= {"0", "1"}
    for (device_a, start_a, end_a), (device_b, start_b, end_b) in combinations(held, 2):
        if start_a < end_b and start_b < end_a:
            assert device_a != device_b, "two jobs held the same GPU at the same time"
    for _, start, _ in held:
        assert sum(other_start <= start < other_end for _, other_start, other_end in held) <= 2


def test_a_killed_holder_leaves_no_stale_lock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(COUNT_ENV, "1")
    run_all(die_holding, [(str(tmp_path / "slots"),)])
    with (tmp_path / "slots" / "gpu0.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_visible_device_list_is_shared_out_and_restored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(VISIBLE_ENV, "2,3")
    lock_dir = tmp_path / "slots"
    lock_dir.mkdir()
    with (lock_dir / "gpu2.lock").open("a") as taken:
        fcntl.flock(taken, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with gpu_slot(lock_dir) as device:
            assert device == "3"
            assert os.environ[VISIBLE_ENV] == "3"
    assert os.environ[VISIBLE_ENV] == "2,3"


def test_a_single_assigned_device_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(VISIBLE_ENV, "1")   # as SLURM sets it for a job with --gpus=1
    with gpu_slot(tmp_path / "slots") as device:
        assert device is None
        assert os.environ[VISIBLE_ENV] == "1"
    assert not (tmp_path / "slots").exists()


def test_without_a_gpu_nothing_changes(tmp_path: Path) -> None:
    with gpu_slot(tmp_path / "slots") as device:
        assert device is None
        assert VISIBLE_ENV not in os.environ
    assert VISIBLE_ENV not in os.environ


def test_devices_come_from_the_driver_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    driver = tmp_path / "gpus"
    for bus_id in ("0000:17:00.0", "0000:65:00.0"):
        (driver / bus_id).mkdir(parents=True)
    monkeypatch.setattr(gpu_slots, "DRIVER_GPUS_DIR", driver)
    assert shared_devices() == ["0", "1"]
    monkeypatch.setenv(COUNT_ENV, "0")
    assert shared_devices() == []


def test_jobs_per_gpu_packs_k_holders_onto_each_device(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(COUNT_ENV, "2")
    monkeypatch.setenv(JOBS_PER_GPU_ENV, "3")
    barrier, results = SPAWN.Barrier(6), SPAWN.Queue()
    run_all(hold_until_all_hold, [(str(tmp_path / "slots"), barrier, results)] * 6)
    held = drain(results, 6)
    assert Counter(device for device, _ in held) == {"0": 3, "1": 3}
    assert all(device == visible for device, visible in held)


def test_holders_beyond_n_times_k_wait_and_no_device_holds_more_than_k(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.setenv(COUNT_ENV, "2")
    monkeypatch.setenv(JOBS_PER_GPU_ENV, "2")
    results = SPAWN.Queue()
    run_all(hold_for_a_while, [(str(tmp_path / "slots"), 0.5, results)] * 7)
    held = drain(results, 7)
    for device, start, _ in held:
        same_device = [(s, e) for d, s, e in held if d == device]
        assert sum(s <= start < e for s, e in same_device) <= 2, "more than k jobs on one GPU at once"
        assert sum(s <= start < e for _, s, e in held) <= 4, "more than N x k jobs at once"


def test_free_slots_spread_over_the_devices_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(COUNT_ENV, "2")
    monkeypatch.setenv(JOBS_PER_GPU_ENV, "3")
    with gpu_slot(tmp_path / "slots") as first, gpu_slot(tmp_path / "slots") as second:
        assert {first, second} == {"0", "1"}
        with gpu_slot(tmp_path / "slots") as third:
            assert third == "0"
    assert sorted(path.name for path in (tmp_path / "slots").iterdir()) == ["gpu0.1.lock", "gpu0.lock", "gpu1.lock"]


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_jobs_per_gpu_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(JOBS_PER_GPU_ENV, value)
    with pytest.raises(ValueError, match=JOBS_PER_GPU_ENV):
        jobs_per_gpu()


#: A workflow around the real workflow/rules/train.smk: stubs for the helpers it names, and a probe rule that asks
#: for gpu=1 as the training rules do, takes a GPU slot and records its device and times.
PROBE_SNAKEFILE = """
import os
def training_inputs(wildcards): return {{}}
def run_parameters(wildcards): return {{}}
def tau_search_parameters(wildcards): return {{}}
def training_threads(wildcards): return 1
include: "{train_smk}"
rule probes:
    input: expand("probe/{{index}}.txt", index=range({jobs}))
rule probe:
    output: "probe/{{index}}.txt"
    resources: gpu=1
    shell: "{python} -c 'import time; from common.gpu_slots import gpu_slot\\n"
           "with gpu_slot(\\"slots\\", poll_seconds=0.05) as device:\\n"
           "    start = time.time(); time.sleep(1.5); print(device, start, time.time())' > {{output}}"
"""


@pytest.mark.slow
@pytest.mark.parametrize(("per_gpu", "expected_at_once"), [(1, 2), (3, 6)])
def test_snakemake_runs_n_times_k_gpu_jobs_at_once(tmp_path: Path, per_gpu: int, expected_at_once: int) -> None:
    """`--resources gpu=2` with `jobs_per_gpu: k`: up to 2k jobs at once, k per device (GSDNET_GPU_COUNT=2)."""
    jobs = 6
    (tmp_path / "Snakefile").write_text(PROBE_SNAKEFILE.format(
        train_smk=ROOT / "workflow" / "rules" / "train.smk", jobs=jobs, python=sys.executable))
    env = {**os.environ, COUNT_ENV: "2", "PYTHONPATH": str(ROOT)}
    env.pop(VISIBLE_ENV, None)
    env.pop(JOBS_PER_GPU_ENV, None)
    result = subprocess.run([sys.executable, "-m", "snakemake", "probes", "--cores", str(jobs), "--resources",
                             "gpu=2", "--config", f"jobs_per_gpu={per_gpu}"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    held = []
    for index in range(jobs):
        device, start, end = (tmp_path / "probe" / f"{index}.txt").read_text().split()
        held.append((device, float(start), float(end)))
    assert Counter(device for device, _, _ in held) == {"0": jobs // 2, "1": jobs // 2}
    at_once = max(sum(s <= start < e for _, s, e in held) for _, start, _ in held)
    assert at_once == expected_at_once
    for device, start, _ in held:
        assert sum(s <= start < e for d, s, e in held if d == device) <= per_gpu


SHARE_PROFILE = ROOT / "workflow" / "profiles" / "slurm-gpu-share"


class _JobResources(dict):
    """What the SLURM plugin reads of a job's resources: ``.get`` and attribute access."""

    __getattr__ = dict.__getitem__


def test_gpu_share_overlay_asks_sbatch_for_one_shard_and_no_whole_gpu() -> None:
    """The overlay's training requests, as the SLURM plugin turns them into sbatch options."""
    import yaml
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    requests = yaml.safe_load((SHARE_PROFILE / "config.yaml").read_text())["set-resources"]
    for rule in ("train", "tau_search_train"):
        job = type("Job", (), {"resources": _JobResources(requests[rule])})()
        assert set_gres_string(job).split() == ["--gres=shard:1"], rule
        assert {"cpus_per_task", "mem_mb", "runtime"} <= set(requests[rule])


@pytest.mark.slow
def test_gpu_share_overlay_plans_every_training_job_on_a_shard(tmp_path: Path) -> None:
    """A dry run with the SLURM profile plus the overlay: every training job, and only those, asks for a shard."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
         "--profile", str(ROOT / "workflow" / "profiles" / "slurm"), "--workflow-profile", str(SHARE_PROFILE)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    jobs = re.findall(r"^rule (\w+):$.*?^\s+resources: ([^\n]*)", output, flags=re.MULTILINE | re.DOTALL)
    training = [resources for rule, resources in jobs if rule in ("train", "tau_search_train")]
    assert training, "the dry run planned no training job"
    assert all("gpu=0" in resources and "gres=shard:1" in resources for resources in training)
    assert all("shard" not in resources for rule, resources in jobs if rule not in ("train", "tau_search_train"))
