"""GPU slots for concurrent local training jobs: distinct CUDA_VISIBLE_DEVICES, simulated without a GPU."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import time
from itertools import combinations
from pathlib import Path

import pytest

from common import gpu_slots
from common.gpu_slots import COUNT_ENV, VISIBLE_ENV, gpu_slot, shared_devices

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
