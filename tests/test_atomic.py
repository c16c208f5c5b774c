"""Atomic writers: complete files or none, byte-identical .npz for equal arrays."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from common.atomic import atomic_path, write_json, write_npz
from common.progress import with_progress


def test_npz_round_trip_and_byte_identical(tmp_path: Path) -> None:
    arrays = {"masks": np.arange(24, dtype=np.uint8).reshape(2, 3, 4), "names": np.array(["a", "b"])}
    write_npz(tmp_path / "one.npz", **arrays)
    write_npz(tmp_path / "two.npz", **arrays)
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    with np.load(tmp_path / "one.npz", allow_pickle=False) as loaded:
        assert np.array_equal(loaded["masks"], arrays["masks"])
        assert list(loaded["names"]) == ["a", "b"]


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out" / "summary.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_existing_file_is_kept_until_replaced(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("{")
        raise RuntimeError
    assert target.read_text().strip().endswith("}")


def test_written_file_is_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    write_json(target, {})
    assert target.stat().st_mode & stat.S_IRGRP


def test_progress_lines_give_files_done_rate_and_time_left() -> None:
    ticks = iter([0.0, 5.0, 11.0, 12.0, 30.0])
    lines: list[str] = []
    items = list(with_progress(range(4), 4, "preparing toy", log=lines.append, every=10.0, clock=lambda: next(ticks)))
    assert items == [0, 1, 2, 3]
    assert lines == ["preparing toy: 2/4 files, 0.2/s, about 11 s left",
                     "preparing toy: 4/4 files, 0.1/s, about 0 s left"]
