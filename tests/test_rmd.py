"""RMD's pieces on hand-worked cases: the shared deformation, flips, selection sizes, ramps, dropout, engine runs."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from methods.base import StepContext
from methods.registry import build_method
from methods.rmd import (
    authors_schedule,
    deform,
    deformation_grid,
    distillation_count,
    random_deformation,
    random_flip,
    sigmoid_rampup,
    strong_pass,
)
from methods.selection import small_loss_mask, smallest_mask
from training.engine import train
from training.networks import SmallUNet
from training.run_config import RunConfig
from training.synthetic_inputs import write_synthetic_inputs


def dot(shape: tuple[int, ...], where: tuple[int, ...]) -> torch.Tensor:
    image = torch.zeros((1, 1, *shape))
    image[(0, 0, *where)] = 1.0
    return image


def test_identity_parameters_give_the_identity_in_2d_and_3d() -> None:
    for spatial in [(5, 7), (4, 5, 6)]:
        image = torch.rand((2, 3, *spatial))
        grid = deformation_grid(torch.zeros(2), torch.ones(2), torch.zeros((2, len(spatial), *spatial)))
        torch.testing.assert_close(deform(image, grid), image, atol=1e-6, rtol=0)


def test_a_quarter_turn_moves_a_dot_where_worked_by_hand() -> None:
    # source = R (x - c): at output offset (r, c) the sample comes from (-c, r); the dot at pixel (0, 2) of a 5x5
    # image (offset (-2, 0)) appears where -c = -2 and r = 0: offset (0, 2), pixel (2, 4).
    grid = deformation_grid(torch.tensor([math.pi / 2]), torch.ones(1), torch.zeros((1, 2, 5, 5)))
    moved = deform(dot((5, 5), (0, 2)), grid)
    torch.testing.assert_close(moved, dot((5, 5), (2, 4)), atol=1e-5, rtol=0)


def test_a_zoom_of_two_samples_half_the_offset() -> None:
    # source = (x - c) / 2: output pixel 4 of a 9-wide row samples offset 2 / 2... at pixel 2 (offset 4 -> 2).
    image = torch.arange(9.0).view(1, 1, 1, 9).expand(1, 1, 3, 9).contiguous()
    grid = deformation_grid(torch.zeros(1), torch.full((1,), 2.0), torch.zeros((1, 2, 3, 9)))
    torch.testing.assert_close(deform(image, grid)[0, 0, 1], 4.0 + (torch.arange(9.0) - 4.0) / 2)


def test_one_field_moves_the_image_and_the_logit_maps_alike() -> None:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand((2, 1, 16, 16))
    logits = torch.cat([image, 1 - image], dim=1)
    grid = random_deformation(2, (16, 16), generator)
    moved_image, moved_logits = deform(image, grid), deform(logits, grid)
    assert torch.equal(moved_image[:, 0], moved_logits[:, 0])
    torch.testing.assert_close(moved_logits[:, 1], 1 - moved_image[:, 0])
    spot = dot((16, 16), (6, 9))
    spot_logits = torch.cat([torch.zeros_like(spot), spot], dim=1)
    moved_spot, moved_spot_logits = deform(spot, grid[:1]), deform(spot_logits, grid[:1])
    assert moved_spot.flatten().argmax() == moved_spot_logits[:, 1].flatten().argmax()
    assert torch.equal(moved_spot[:, 0], moved_spot_logits[:, 1])


def test_the_random_deformation_differs_per_sample_and_in_3d_moves_alike() -> None:
    grid = random_deformation(2, (8, 8, 8), torch.Generator().manual_seed(1))
    assert grid.shape == (2, 8, 8, 8, 3) and not torch.equal(grid[0], grid[1])
    volume = torch.rand((2, 1, 8, 8, 8))
    assert torch.equal(deform(volume, grid), deform(torch.cat([volume, volume], 1), grid)[:, 1:])


def test_the_flip_moves_image_and_logits_alike_over_all_four_choices() -> None:
    image = torch.arange(16.0).view(1, 1, 4, 4)
    logits = torch.cat([image, -image], dim=1)
    generator = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(40):
        flipped_image, flipped_logits = random_flip([image, logits], generator)
        assert torch.equal(flipped_logits[:, :1], flipped_image) and torch.equal(flipped_logits[:, 1:], -flipped_image)
        seen.add(tuple(flipped_image.flatten()[[0, 3]].tolist()))
    assert seen == {(0.0, 3.0), (3.0, 0.0), (12.0, 15.0), (15.0, 12.0)}


def test_the_ramps_and_the_authors_schedule() -> None:
    assert sigmoid_rampup(0, 10) == pytest.approx(math.exp(-5.0))
    assert sigmoid_rampup(5, 10) == pytest.approx(math.exp(-1.25))
    assert sigmoid_rampup(10, 10) == 1.0 and sigmoid_rampup(30, 10) == 1.0 and sigmoid_rampup(0, 0) == 1.0
    assert authors_schedule(9, 50, 10) == (1e-3, 0.9)
    assert authors_schedule(10, 50, 10) == (1e-3, 0.1)
    assert authors_schedule(30, 50, 10) == (pytest.approx(5e-4), 0.1)
    assert authors_schedule(49, 50, 10)[0] == pytest.approx(1e-3 / 40)


def test_the_selection_sizes() -> None:
    method = build_method("rmd")
    values = torch.rand((2, 5, 10))  # N = 100

    def kept(epoch: int, tau: float) -> int:
        ctx = StepContext(epoch=epoch, num_epochs=50, tau=tau, networks=[], generator=torch.Generator())
        return int(small_loss_mask(values, method.keep_ratio(ctx)).sum())

    # forget rate tau * min(e / 9, 1): 0, 0.1 at epoch 3 (tau 0.3), tau from epoch 9
    assert [kept(0, 0.3), kept(3, 0.3), kept(9, 0.3), kept(20, 0.3), kept(4, 0.45)] == [100, 90, 70, 70, 80]
    # distillation: int(min(w_e * factor, 1) * N): exp(-5) * 100 -> 0; exp(-1.25) * 100 = 28.65 -> 28
    assert distillation_count(sigmoid_rampup(0, 10), 1.0, 100) == 0
    assert distillation_count(sigmoid_rampup(0, 10), 1.0, 10_000) == 67
    assert distillation_count(sigmoid_rampup(5, 10), 1.0, 100) == 28
    assert distillation_count(sigmoid_rampup(5, 10), 2.0, 100) == 57
    assert distillation_count(sigmoid_rampup(10, 10), 3.0, 100) == 100
    certainty = torch.tensor([[0.5, 0.1, 0.1], [0.9, 0.0, 0.3]])
    assert smallest_mask(certainty, 3).tolist() == [[False, True, True], [False, True, False]]


def test_dropout_off_gives_the_plain_network_and_on_changes_only_the_strong_pass() -> None:
    torch.manual_seed(0)
    plain = SmallUNet(3)
    torch.manual_seed(0)
    dropped = SmallUNet(3, dropout=0.5)
    images = torch.rand((2, 3, 16, 16))
    assert torch.equal(plain(images), dropped(images))
    with strong_pass([dropped.eval(), plain.eval()]):  # eval mode: no dropout even with the flag on
        assert dropped.dropout_enabled and torch.equal(dropped(images), plain(images))
    dropped.train(), plain.train()
    with strong_pass([dropped]):
        strong = dropped(images)
    assert not dropped.dropout_enabled and not torch.equal(strong, plain(images))
    assert dropped.dropout_rates == pytest.approx([0.05, 0.1, 0.2, 0.3, 0.5])


SCHEDULE = {"ramp_epochs": 2, "rampup_epochs": 2, "deform_start_epoch": 1, "decay_start_epoch": 1}


@pytest.mark.parametrize("options", [SCHEDULE, {**SCHEDULE, "authors_optimizer": True, "certainty": "probability"}])
def test_an_engine_run_through_every_branch_is_finite_and_repeats(tmp_path: Path, options: dict) -> None:
    prepared, noise = write_synthetic_inputs(tmp_path / "inputs", n_train=4, n_test=2, size=32)

    def run(name: str) -> pd.DataFrame:
        config = RunConfig(prepared_dir=prepared, noise_dir=noise, method="rmd", method_options=dict(options),
                           epochs=3, batch_size=2, eval_batch_size=2, eval_last_k=1, threads=1, device="cpu")
        summary = train(config, tmp_path / name, tmp_path / f"ck_{name}", log=lambda _: None)
        assert math.isfinite(summary["dice_mean"])
        return pd.read_csv(tmp_path / name / "epochs.csv").drop(columns=["train_seconds", "eval_seconds"])

    first = run("a")
    assert first[["loss", "distillation_1", "distillation_2"]].notna().all().all()
    assert (first["distillation_1"].iloc[1:] > 0).all()  # count > 0 from epoch 1, deformation from epoch 1
    assert first["distill_ramp"].tolist() == pytest.approx([math.exp(-5.0), math.exp(-1.25), 1.0])
    pd.testing.assert_frame_equal(first, run("b"), check_exact=True)
