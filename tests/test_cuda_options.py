"""``benchmarks/cuda_options.py`` on CPU at a tiny size: the deterministic reruns are reported identical."""

from __future__ import annotations

import pytest

from benchmarks import cuda_options


def test_cuda_options_benchmark_reports_exact_reruns_on_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    assert cuda_options.main(["--device", "cpu", "--size", "32", "--n-train", "8", "--batch-size", "4",
                              "--epochs", "2", "--methods", "ce", "--no-compile"]) == 0
    printed = capsys.readouterr().out
    assert [line.split()[1] for line in printed.splitlines() if line.startswith("ce ") and "reruns" not in line] \
        == ["plain", "deterministic", "deterministic"]
    assert "ce       deterministic reruns identical (losses and predictions): yes" in printed
