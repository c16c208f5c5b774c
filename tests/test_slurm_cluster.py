"""Cluster mode on a real single-node SLURM: the default workflow to the end through Snakemake's slurm executor.

The end-to-end test needs root on Debian (it installs slurm-wlm and munge when missing) and takes minutes, so it
runs only with RUN_SLURM_TESTS=1. It starts the cluster with .ci/slurm/setup.sh and always stops it with
.ci/slurm/teardown.sh (by PID), passed or failed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / ".ci" / "slurm" / "setup.sh"
TEARDOWN = ROOT / ".ci" / "slurm" / "teardown.sh"
SLURM_PROFILE = ROOT / "workflow" / "profiles" / "slurm"
CI_PROFILE = ROOT / "workflow" / "profiles" / "slurm-ci"
FAKE_GPUS = 2
WORKFLOW_TIMEOUT_S = 75 * 60
RUN_SLURM_TESTS = os.environ.get("RUN_SLURM_TESTS") == "1"
TRAINING_RULES = {"train", "tau_search_train"}


def load_profile(profile_dir: Path) -> dict:
    return yaml.safe_load((profile_dir / "config.yaml").read_text())


def rule_of(comment: str) -> str:
    """The rule name in the job comment the slurm executor sets: ``rule_<name>[_wildcards_<values>]``."""
    return comment.removeprefix("rule_").split("_wildcards_")[0]


def slurm_job_starts(log_dir: Path) -> dict[str, dict[str, str]]:
    """Per SLURM job id, the fields the cluster's prolog logged when it started (cpus, gpus, comment)."""
    starts = {}
    for line in (log_dir / "jobs.log").read_text().splitlines():
        fields = dict(item.split("=", 1) for item in line.split())
        starts[fields.pop("job")] = fields
    return starts


def slurm_job_states(log_dir: Path) -> dict[str, str]:
    """Per SLURM job id, the final state recorded by jobcomp/filetxt."""
    text = (log_dir / "jobcomp.log").read_text()
    return dict(re.findall(r"JobId=(\d+) .*?JobState=(\S+)", text))


def test_ci_overlay_keeps_the_slurm_profile_requests() -> None:
    """The CI overlay changes how jobs are submitted and polled, not what they ask for (beyond the partition)."""
    slurm, ci = load_profile(SLURM_PROFILE), load_profile(CI_PROFILE)
    assert slurm["executor"] == "slurm"
    assert "set-resources" not in ci, "the CI overlay would replace the training requests of the SLURM profile"
    assert {**slurm["default-resources"], "slurm_partition": "debug"} == ci["default-resources"]
    for rule in TRAINING_RULES:
        assert slurm["set-resources"][rule]["gpu"] == 1
        assert {"cpus_per_task", "mem_mb", "runtime"} <= set(slurm["set-resources"][rule])
    assert ci["slurm-status-command"] == "squeue"


def test_slurm_profile_plans_gpu_training_jobs(tmp_path: Path) -> None:
    """A dry run with the SLURM profile parses it and gives every training job one GPU (no cluster needed)."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
         "--workflow-profile", str(SLURM_PROFILE)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    jobs = re.findall(r"^rule (\w+):$.*?^\s+resources: ([^\n]*)", output, flags=re.MULTILINE | re.DOTALL)
    training = [resources for rule, resources in jobs if rule in TRAINING_RULES]
    assert training, "the dry run planned no training job"
    assert all("gpu=1" in resources and "runtime=240" in resources for resources in training)
    assert all("gpu=" not in resources for rule, resources in jobs if rule not in TRAINING_RULES)


@pytest.fixture
def slurm_cluster() -> Iterator[dict[str, str]]:
    """A running single-node SLURM with fake GPUs; yields the environment to use it. Always torn down.

    Its state folder is $SLURM_CI_DIR when set (so that a CI script can also run the teardown in a trap), else a
    new short folder under /tmp (slurmd puts sockets in it), removed afterwards.
    """
    given_dir = os.environ.get("SLURM_CI_DIR")
    state_dir = Path(given_dir or tempfile.mkdtemp(prefix="slurm-ci-", dir="/tmp"))
    env = {**os.environ, "SLURM_CI_DIR": str(state_dir), "SLURM_CI_GPUS": str(FAKE_GPUS), "PYTHONPATH": str(ROOT)}
    try:
        subprocess.run(["bash", str(SETUP)], env=env, check=True, timeout=900)
        yield env
    finally:
        subprocess.run(["bash", str(TEARDOWN)], env=env, timeout=300)
        if not given_dir:
            shutil.rmtree(state_dir, ignore_errors=True)


@pytest.mark.slurm
@pytest.mark.skipif(not RUN_SLURM_TESTS, reason="set RUN_SLURM_TESTS=1 to run: starts a real SLURM as root "
                    "(installs slurm-wlm and munge when missing) and runs the default workflow, 25-45 min")
def test_default_workflow_runs_through_slurm(slurm_cluster: dict[str, str], tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    log_dir = Path(slurm_cluster["SLURM_CI_DIR"]) / "log"
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
               "--cores", "2", "--profile", str(SLURM_PROFILE), "--workflow-profile", str(CI_PROFILE)]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=slurm_cluster, capture_output=True, text=True,
                            timeout=WORKFLOW_TIMEOUT_S)
    elapsed = time.monotonic() - started
    (tmp_path / "snakemake.log").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]

    for output in ("results/tables/table3.md", "results/tables/table4.md", "results/figures/noise_examples.png"):
        assert (workdir / output).stat().st_size > 0, output

    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", result.stdout + result.stderr))
    starts, states = slurm_job_starts(log_dir), slurm_job_states(log_dir)
    print(f"\nSLURM ran {len(starts)} jobs for the default workflow in {elapsed:.0f} s "
          f"(command: {' '.join(command[1:])})")
    assert submitted, "Snakemake submitted nothing to SLURM"
    assert submitted == set(starts) == set(states), "Snakemake's job ids and SLURM's records differ"
    assert set(states.values()) == {"COMPLETED"}

    rules = {job: rule_of(fields["comment"]) for job, fields in starts.items()}
    for rule in ("prepare_dataset", "superpixels", "simulate_noise", "distance_maps", "train", "table3",
                 "noise_examples_figure", "method_table"):
        assert rule in rules.values(), f"rule {rule} did not run through SLURM"
        assert (workdir / ".snakemake" / "slurm_logs" / f"rule_{rule}").is_dir()
    training_runs = [*(workdir / "results" / "runs").rglob("summary.json"),
                     *(workdir / "results" / "tau_search").rglob("summary.json")]
    training_jobs = [job for job, rule in rules.items() if rule in TRAINING_RULES]
    assert len(training_jobs) == len(training_runs)
    assert all(starts[job]["gpus"] != "none" for job in training_jobs), "a training job got no GPU from SLURM"
    assert all(starts[job]["gpus"] == "none" for job, rule in rules.items() if rule not in TRAINING_RULES)
    assert {starts[job]["gpus"] for job in training_jobs} == {str(gpu) for gpu in range(FAKE_GPUS)}
