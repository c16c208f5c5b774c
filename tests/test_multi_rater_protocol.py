"""The multi-rater protocol: rater masks and groups in the prepared form, rater label sources, per-rater and
per-volume scoring (spec, Protocol: "Multi-expert sets")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from adapters import prepare_dataset, registry
from adapters.base import Adapter, Sample
from adapters.masks import consensus_mask
from common.errors import InputError
from evaluation.metrics import dice_per_image
from methods.ce import CrossEntropyMethod
from noise.settings import RaterLabels, parse_setting
from noise.simulate import simulate_dataset
from priors.distance import write_distance_maps
from training.augment import InputScaler
from training.data import TestSet as ScoredSet
from training.engine import evaluate, train
from training.run_config import RunConfig


class GroupedSlices(Adapter):
    """Test fixture: 5 volumes of 4 slices each, three raters, the volume as group, scored per group."""

    needs_path = False
    synthetic = True
    evaluation_unit: ClassVar[str] = "group"

    def sample_names(self) -> list[str]:
        return [f"vol{volume}_slice-{index:03d}" for volume in range(5) for index in range(4)]

    def load(self, name: str) -> Sample:
        volume, index = int(name[3]), int(name[-3:])
        rng = np.random.default_rng([volume, index])
        raters = np.zeros((3, 16, 16), dtype=bool)
        for rater in range(3):
            raters[rater, 4:10 + rater, 4 + index:12] = True
        image = rng.integers(0, 255, (16, 16, 1), dtype=np.uint8)
        return Sample(name=name, image=image, mask=consensus_mask(raters), raters=raters, group=f"vol{volume}")


def test_consensus_needs_half_of_the_raters() -> None:
    raters = np.zeros((4, 1, 4), dtype=bool)
    raters[:1, 0, 0] = True   # one of four
    raters[:2, 0, 1] = True   # two of four
    raters[:3, 0, 2] = True   # three of four
    assert consensus_mask(raters).tolist() == [[False, True, True, False]]


@pytest.fixture
def grouped_adapter(monkeypatch: pytest.MonkeyPatch) -> str:
    """:class:`GroupedSlices` registered for one test only."""
    monkeypatch.setitem(registry.ADAPTERS._entries, "grouped_slices_fixture", GroupedSlices)
    monkeypatch.setattr(GroupedSlices, "registry_name", "grouped_slices_fixture")
    return "grouped_slices_fixture"


def test_prepare_stores_raters_consensus_and_group_split(tmp_path: Path, grouped_adapter: str) -> None:
    metadata = prepare_dataset("grouped", grouped_adapter, None, tmp_path, working_size=16, n_test=2)
    with np.load(tmp_path / "data.npz") as data:
        raters, masks = data["rater_masks"], data["masks"]
    assert raters.shape == (20, 3, 16, 16) and raters.dtype == np.uint8
    np.testing.assert_array_equal(masks, consensus_mask(raters.swapaxes(0, 1).astype(bool)).astype(np.uint8))
    split = pd.read_csv(tmp_path / "split.csv")
    assert list(split.columns) == ["name", "split", "group"]
    assert split.groupby("group")["split"].nunique().eq(1).all(), "a volume was split across train and test"
    assert split.loc[split["split"] == "test", "group"].nunique() == 2
    assert metadata["n_raters"] == 3 and metadata["n_groups"] == 5 and metadata["evaluation_unit"] == "group"
    assert "groups (patients or volumes" in metadata["split_rule"]


def test_sampled_raters_cycle_evenly_and_are_seeded() -> None:
    source = RaterLabels("sampled")
    chosen = source.choose(10, 4, np.random.default_rng(3))
    assert sorted(np.bincount(chosen, minlength=4).tolist()) == [2, 2, 3, 3]
    np.testing.assert_array_equal(chosen, source.choose(10, 4, np.random.default_rng(3)))
    assert not np.array_equal(chosen, source.choose(10, 4, np.random.default_rng(4)))
    assert RaterLabels(2).choose(5, 4, np.random.default_rng(0)).tolist() == [2] * 5


@pytest.mark.parametrize(("spec", "key"), [({"model": "rater"}, "rater"), ({"model": "rater", "rater": "all"}, "rater"),
                                           ({"model": "rater", "rater": -1}, "rater"),
                                           ({"model": "clean", "steps": 3}, "steps")])
def test_label_source_errors_name_the_key(spec: dict[str, Any], key: str) -> None:
    with pytest.raises(InputError, match=rf"noise_settings\.mine\.{key}"):
        parse_setting("mine", spec)


@pytest.fixture(scope="module")
def rater_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prepared = tmp_path_factory.mktemp("raters")
    prepare_dataset("synthetic_raters", "synthetic", None, prepared, working_size=48,
                    options={"raters": 4, "n_train": 12, "n_test": 4, "size": 96})
    return prepared


def test_rater_labels_take_each_image_from_its_rater(rater_set: Path, tmp_path: Path) -> None:
    simulate_dataset(rater_set, tmp_path / "sampled", "synthetic_raters", "sampled", {"model": "rater",
                     "rater": "sampled"}, "working", seed=0)
    simulate_dataset(rater_set, tmp_path / "A3", "synthetic_raters", "A3", {"model": "rater", "rater": 2},
                     "working", seed=0)
    with np.load(rater_set / "data.npz") as data:
        raters = data["rater_masks"][:12]
    stats = pd.read_csv(tmp_path / "sampled" / "stats.csv")
    with np.load(tmp_path / "sampled" / "noisy_masks.npz") as noisy:
        np.testing.assert_array_equal(noisy["masks"], raters[np.arange(12), stats["rater"].to_numpy()])
    assert sorted(np.bincount(stats["rater"], minlength=4).tolist()) == [3, 3, 3, 3]
    with np.load(tmp_path / "A3" / "noisy_masks.npz") as noisy:
        np.testing.assert_array_equal(noisy["masks"], raters[:, 2])


def test_rater_labels_need_raters_the_set_has(rater_set: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"noise_settings\.A9\.rater: rater 9 does not exist; .* has 4 raters"):
        simulate_dataset(rater_set, tmp_path / "x", "synthetic_raters", "A9", {"model": "rater", "rater": 9},
                         "working", seed=0)
    with pytest.raises(InputError, match=r"datasets\.synthetic_raters\.noise\.sampled: rater labels exist at the "
                                         r"working size only"):
        simulate_dataset(rater_set, tmp_path / "x", "synthetic_raters", "sampled",
                         {"model": "rater", "rater": "sampled"}, "original", seed=0)
    single = tmp_path / "single"
    prepare_dataset("single", "synthetic", None, single, working_size=48, options={"n_train": 4, "n_test": 2,
                                                                                  "size": 48})
    with pytest.raises(InputError, match=r"model rater needs a multi-rater data set, but .*data\.npz has no "
                                         r"rater_masks"):
        simulate_dataset(single, tmp_path / "x", "single", "sampled", {"model": "rater", "rater": "sampled"},
                         "working", seed=0)
    assert not (tmp_path / "x").exists()


class FixedPrediction(nn.Module):
    """A 'network' whose foreground logit is channel 0 of the input image minus one half."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        foreground = images[:, 0] - 0.5
        return torch.stack([-foreground, foreground], dim=1)


def _rater_test_set(groups: list[str] | None) -> tuple[ScoredSet, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    predictions = rng.random((6, 8, 8)) < 0.4
    raters = rng.random((6, 2, 8, 8)) < 0.4
    predictions[5] = False
    raters[5] = False  # an empty prediction on empty masks
    images = torch.from_numpy(predictions[:, None].astype(np.uint8))
    test_set = ScoredSet([f"s{index}" for index in range(6)], images, torch.from_numpy(raters[:, 0].astype(np.uint8)),
                       torch.from_numpy(raters.astype(np.uint8)), groups)
    return test_set, predictions, raters


@pytest.mark.parametrize("empty_score", [1.0, 0.0])
def test_each_rater_is_scored_separately_per_image(empty_score: float) -> None:
    test_set, predictions, raters = _rater_test_set(None)
    result = evaluate([FixedPrediction()], CrossEntropyMethod(), test_set, InputScaler("raw"), 4, torch.device("cpu"),
                      empty_score)
    expected = np.stack([dice_per_image(predictions, raters[:, rater], empty_score=empty_score)
                         for rater in range(2)], axis=1)
    np.testing.assert_allclose(result.rater_dice, expected)
    assert result.rater_dice[5].tolist() == [empty_score, empty_score]
    np.testing.assert_allclose(result.dice, expected.mean(axis=1))
    batch_means = np.stack([expected[:4].mean(axis=0), expected[4:].mean(axis=0)]).mean(axis=0)
    np.testing.assert_allclose(result.rater_protocol, batch_means)
    assert result.dice_batch_mean == pytest.approx(batch_means.mean())


def test_groups_are_scored_as_rebuilt_volumes() -> None:
    test_set, predictions, raters = _rater_test_set(["a", "a", "b", "b", "b", "c"])
    result = evaluate([FixedPrediction()], CrossEntropyMethod(), test_set, InputScaler("raw"), 4, torch.device("cpu"))
    assert result.unit_names == ["a", "b", "c"]
    volume_a = dice_per_image(predictions[None, :2], raters[None, :2, 1])[0]
    assert result.rater_dice[0, 1] == pytest.approx(volume_a)
    assert result.rater_dice[2].tolist() == [1.0, 1.0]
    assert result.dice_batch_mean == pytest.approx(result.rater_dice.mean())


def test_training_on_sampled_raters_reports_every_rater(rater_set: Path, tmp_path: Path) -> None:
    noise_dir = tmp_path / "noise"
    simulate_dataset(rater_set, noise_dir, "synthetic_raters", "sampled", {"model": "rater", "rater": "sampled"},
                     "working", seed=0)
    config = RunConfig(prepared_dir=rater_set, method="ce", noise_dir=noise_dir, distance_path=None, epochs=2,
                       eval_last_k=2, batch_size=4, tau=0.003, device="cpu", empty_mask_dice="zero")
    write_distance_maps(noise_dir / "noisy_masks.npz", noise_dir / "distance_maps.npz")
    summary = train(config, tmp_path / "run", tmp_path / "ckpt", log=lambda _: None, threads=1)
    assert set(summary["rater_dice"]) == {"A1", "A2", "A3", "A4"}
    rater_means = [summary["rater_dice"][rater]["mean"] for rater in ("A1", "A2", "A3", "A4")]
    assert summary["dice_mean"] == pytest.approx(np.mean(rater_means))
    per_image = pd.read_csv(tmp_path / "run" / "per_image.csv")
    assert list(per_image.columns) == ["epoch", "name", "dice", "dice_A1", "dice_A2", "dice_A3", "dice_A4"]
    np.testing.assert_allclose(per_image["dice"], per_image[["dice_A1", "dice_A2", "dice_A3", "dice_A4"]].mean(axis=1))
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["config"]["empty_mask_dice"] == "zero"
