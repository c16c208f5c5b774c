"""The host-memory policy: freed large blocks are reused instead of mapped and page-faulted again."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from training import host_memory

ON_GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

#: Allocates, fills and frees a 128 MiB tensor (a 16 x 32 x 256² float32 activation) eleven times and prints the
#: minor page faults of the last ten, after ``retain_freed_memory()`` when argv[1] is "retain".
FAULT_COUNT = """
import resource, sys, torch
from training.host_memory import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
def fill():
    torch.empty(32 * 2**20, dtype=torch.float32).fill_(1.0)
fill()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    fill()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    env = {name: value for name, value in os.environ.items() if name not in host_memory.USER_MALLOC_VARIABLES}
    result = subprocess.run([sys.executable, "-c", FAULT_COUNT, mode], capture_output=True, text=True, env=env,
                            check=True)
    return int(result.stdout.strip())


@pytest.mark.skipif(not ON_GLIBC, reason="the policy applies to glibc's malloc only")
def test_retained_memory_is_reused_without_page_faults() -> None:
    default_faults = _page_faults("default")
    retained_faults = _page_faults("retain")
    assert default_faults > 10 * 64  # glibc maps each 128 MiB block afresh (at least one fault per 2 MiB page)
    assert retained_faults < default_faults / 4


@pytest.mark.skipif(not ON_GLIBC, reason="the policy applies to glibc's malloc only")
def test_retain_succeeds_on_glibc_and_can_repeat(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in host_memory.USER_MALLOC_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert host_memory.retain_freed_memory()
    assert host_memory.retain_freed_memory()


@pytest.mark.parametrize("variable", host_memory.USER_MALLOC_VARIABLES)
def test_a_users_malloc_settings_are_left_alone(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "1")
    assert host_memory.retain_freed_memory() is False
