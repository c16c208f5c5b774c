"""Distinct GPU slots for concurrent local jobs: Snakemake's ``--resources gpu=N`` limits how many training jobs
run at once but does not say which device each may use, so every job would otherwise train on GPU 0.

Each device has ``jobs_per_gpu`` = k slots (config key ``jobs_per_gpu``, passed to the training jobs as
``GSDNET_JOBS_PER_GPU``; default 1): slot s of the N x k belongs to device s // k. :func:`gpu_slot` holds one lock
file per slot (``fcntl.flock``, released by the kernel when the process ends, so a killed job leaves no stale
lock) and sets ``CUDA_VISIBLE_DEVICES`` to the free slot's device while the block runs; free slots are taken
spreading over the devices first (slot 0 of every device, then slot 1, ...); when every slot is held it waits for
one. Enter it before CUDA is first used in the process.

Devices to share out: ``GSDNET_GPU_COUNT`` (devices 0..N-1) if set, else the devices already listed in
``CUDA_VISIBLE_DEVICES`` (when it lists more than one), else the GPUs the NVIDIA driver reports. It does nothing
without a GPU, and keeps ``CUDA_VISIBLE_DEVICES`` as it is when it names a single device (or none), as SLURM sets
it for a job that asked for one GPU.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

COUNT_ENV = "GSDNET_GPU_COUNT"
JOBS_PER_GPU_ENV = "GSDNET_JOBS_PER_GPU"
SLOT_DIR_ENV = "GSDNET_GPU_SLOT_DIR"
DEFAULT_SLOT_DIR = "results/.gpu_slots"
VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"
#: One entry per GPU the NVIDIA driver has bound; read without initialising CUDA in this process.
DRIVER_GPUS_DIR = Path("/proc/driver/nvidia/gpus")


def driver_gpu_count() -> int:
    """Number of GPUs the NVIDIA driver reports (0 without one).

    ``torch.cuda.device_count()`` is not used: it can initialise CUDA, after which this process ignores changes
    to ``CUDA_VISIBLE_DEVICES``.
    """
    return len(list(DRIVER_GPUS_DIR.iterdir())) if DRIVER_GPUS_DIR.is_dir() else 0


def shared_devices() -> list[str]:
    """The devices to share out among concurrent jobs; empty when this process should keep its devices as they are."""
    if os.environ.get(COUNT_ENV):
        return [str(index) for index in range(int(os.environ[COUNT_ENV]))]
    if VISIBLE_ENV in os.environ:
        listed = [device.strip() for device in os.environ[VISIBLE_ENV].split(",") if device.strip()]
        return listed if len(listed) > 1 else []
    return [str(index) for index in range(driver_gpu_count())]


def jobs_per_gpu() -> int:
    """Slots per device: ``GSDNET_JOBS_PER_GPU`` (set from the config's ``jobs_per_gpu``), 1 when unset."""
    value = os.environ.get(JOBS_PER_GPU_ENV, "1")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{JOBS_PER_GPU_ENV}: must be an integer >= 1, got {value!r}")
    return int(value)


def slot_locks(devices: list[str], per_device: int, lock_dir: Path) -> list[tuple[str, Path]]:
    """``(device, lock file)`` of every slot in the order they are tried; slot s = d * per_device + j is on
    ``devices[s // per_device]``, and its file is ``gpu{device}.lock`` for j = 0, ``gpu{device}.{j}.lock`` else."""
    locks = []
    for j in range(per_device):
        for device in devices:
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", device)
            locks.append((device, lock_dir / (f"gpu{name}.lock" if j == 0 else f"gpu{name}.{j}.lock")))
    return locks


def _try_lock(path: Path) -> IO[str] | None:
    """Open ``path`` and take an exclusive lock without waiting; the open file holds it (None: held elsewhere)."""
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _lock_any(locks: list[tuple[str, Path]]) -> tuple[str, IO[str]] | None:
    """The first device whose lock is free, with the open file holding its lock (None: all are held)."""
    for device, path in locks:
        handle = _try_lock(path)
        if handle is not None:
            return device, handle
    return None


@contextmanager
def gpu_slot(lock_dir: str | os.PathLike[str] | None = None, devices: list[str] | None = None,
             poll_seconds: float = 1.0, log: Callable[[str], None] | None = None,
             per_device: int | None = None) -> Iterator[str | None]:
    """Hold a GPU slot that no other holder of a lock in ``lock_dir`` has, ``CUDA_VISIBLE_DEVICES`` set to its device.

    Yields the device (None when there is nothing to share out: no GPU, or one already assigned). ``lock_dir``
    defaults to ``GSDNET_GPU_SLOT_DIR`` or ``results/.gpu_slots`` (relative to the run's working directory; point
    runs in several directories on one machine at the same folder), ``devices`` to :func:`shared_devices`,
    ``per_device`` (slots per device) to :func:`jobs_per_gpu`. ``CUDA_VISIBLE_DEVICES`` is restored and the lock
    released on exit.
    """
    devices = shared_devices() if devices is None else devices
    if not devices:
        yield None
        return
    per_device = jobs_per_gpu() if per_device is None else per_device
    lock_dir = Path(lock_dir or os.environ.get(SLOT_DIR_ENV, DEFAULT_SLOT_DIR))
    lock_dir.mkdir(parents=True, exist_ok=True)
    locks = slot_locks(devices, per_device, lock_dir)
    held = _lock_any(locks)
    if held is None and log:
        log(f"all {len(locks)} GPU slots ({len(devices)} devices x {per_device}) in {lock_dir} are held; "
            "waiting for one")
    while held is None:
        time.sleep(poll_seconds)
        held = _lock_any(locks)
    device, handle = held
    previous = os.environ.get(VISIBLE_ENV)
    os.environ[VISIBLE_ENV] = device
    if log:
        log(f"GPU slot: CUDA_VISIBLE_DEVICES={device} (one of {','.join(devices)}, {per_device} slots each)")
    try:
        yield device
    finally:
        if previous is None:
            os.environ.pop(VISIBLE_ENV, None)
        else:
            os.environ[VISIBLE_ENV] = previous
        handle.close()
