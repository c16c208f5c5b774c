"""CDR: the gradient pruning on hand-set gradients, the authors' schedule, and one engine run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from methods.base import EpochContext, StepContext, TrainingSetView
from methods.cdr import CDRMethod, authors_lr, top_share_mask
from methods.registry import build_method
from training.engine import optimizer_settings, train
from training.run_config import RunConfig
from training.synthetic_inputs import write_synthetic_inputs


class Tiny(nn.Module):
    """A conv (4D weight, 8 elements), a norm layer and a linear layer (2D weight, 4 elements), with biases."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 2)
        self.norm = nn.BatchNorm2d(1)
        self.linear = nn.Linear(2, 2)


def set_gradients(network: Tiny) -> None:
    """Weights all 1, so |w · g| = |g|: conv scores 1..8, linear scores 9..12 (signs alternate); biases and the
    norm layer get gradient 5."""
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.fill_(1.0)
            parameter.grad = torch.full_like(parameter, 5.0)
        signs = torch.tensor([1.0, -1.0]).repeat(6)
        scores = torch.arange(1.0, 13.0) * signs
        network.conv.weight.grad = scores[:8].reshape(1, 2, 2, 2).clone()
        network.linear.weight.grad = scores[8:].reshape(2, 2).clone()


def step_context(network: nn.Module, tau: float) -> StepContext:
    return StepContext(epoch=0, num_epochs=1, tau=tau, networks=[network], generator=torch.Generator())


def test_exactly_the_top_share_keeps_its_scaled_gradient() -> None:
    network = Tiny()
    set_gradients(network)
    before = {name: parameter.grad.clone() for name, parameter in network.named_parameters()}
    CDRMethod().after_backward([network], step_context(network, 0.25))
    # N = 12 weight elements, int(0.75 · 12) = 9 kept: the scores 4..12, i.e. conv elements 3..7 and all linear.
    conv = network.conv.weight.grad.reshape(-1)
    assert torch.equal(conv[:3], torch.zeros(3))
    assert torch.allclose(conv[3:], before["conv.weight"].reshape(-1)[3:] * 0.75)
    assert torch.allclose(network.linear.weight.grad, before["linear.weight"] * 0.75)
    for name in ("conv.bias", "norm.weight", "norm.bias", "linear.bias"):
        assert torch.equal(dict(network.named_parameters())[name].grad, before[name]), name


def test_tau_zero_keeps_every_gradient_unscaled() -> None:
    network = Tiny()
    set_gradients(network)
    before = [parameter.grad.clone() for parameter in network.parameters()]
    CDRMethod().after_backward([network], step_context(network, 0.0))
    for parameter, grad in zip(network.parameters(), before, strict=True):
        assert torch.equal(parameter.grad, grad)


def test_the_score_uses_the_weight_too() -> None:
    network = Tiny()
    set_gradients(network)
    with torch.no_grad():
        network.conv.weight.reshape(-1)[0] = 100.0  # score 100 · 1: now the largest
    CDRMethod().after_backward([network], step_context(network, 0.5))
    # 6 kept: conv element 0 (score 100) and the scores 8..12 (conv element 7 and all of linear).
    kept = torch.cat([network.conv.weight.grad.reshape(-1), network.linear.weight.grad.reshape(-1)]) != 0
    assert kept.tolist() == [True] + [False] * 6 + [True] * 5


def test_ties_at_the_threshold_go_to_the_earliest_positions() -> None:
    scores = torch.tensor([1.0, 2.0, 2.0, 3.0, 2.0, 0.5])
    assert top_share_mask(scores, 3).tolist() == [False, True, True, True, False, False]
    assert top_share_mask(scores, 1).tolist() == [False, False, False, True, False, False]
    assert top_share_mask(scores, 0).sum() == 0
    assert top_share_mask(scores, 6).all()
    assert top_share_mask(torch.zeros(5), 2).tolist() == [True, True, False, False, False]


def test_authors_optimizer_and_its_multistep_schedule() -> None:
    # 100 epochs: milestones 20 and 40, stepped before each epoch as in the authors' loop.
    assert [authors_lr(epoch, 100) for epoch in (0, 18, 19, 38, 39, 99)] == pytest.approx(
        [0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001])
    network = Tiny()
    method = CDRMethod(authors_optimizer=True)
    config = RunConfig(prepared_dir=Path("unused"), method="cdr", epochs=100)
    optimizer = method.configure_optimizer([network], optimizer_settings(config))
    assert optimizer.defaults["weight_decay"] == 1e-3 and optimizer.defaults["momentum"] == 0.9
    view = TrainingSetView(labels=torch.zeros(1, 2, 2), superpixels=torch.zeros(1, 2, 2), distance=torch.ones(1, 2, 2))
    ctx = EpochContext(epoch=50, num_epochs=100, tau=0.1, networks=[network], optimizer=optimizer,
                       training_set=view, infer_training_set=list, generator=torch.Generator())
    method.on_epoch_start(ctx)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    protocol = build_method("cdr").configure_optimizer([network], optimizer_settings(config))
    assert protocol.defaults["lr"] == config.lr and protocol.defaults["weight_decay"] == config.weight_decay


def test_one_engine_run(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    prepared, noise = write_synthetic_inputs(tmp_path / "inputs", n_train=4, n_test=2, size=32)
    config = RunConfig(prepared_dir=prepared, noise_dir=noise, method="cdr", epochs=2, batch_size=2,
                       eval_batch_size=2, eval_last_k=1, threads=1, device="cpu")
    summary = train(config, tmp_path / "run", tmp_path / "ck", log=lambda _: None)
    epochs = pd.read_csv(tmp_path / "run" / "epochs.csv")
    assert len(epochs) == 2 and epochs["ce"].notna().all()
    assert 0.0 <= summary["dice_mean"] <= 1.0
