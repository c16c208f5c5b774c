"""The small-loss sums: boolean indexing on CPU, a masked sum without read-back elsewhere; both agree."""

from __future__ import annotations

import torch

from methods.selection import selected_mean, selected_sum


def test_masked_sum_agrees_with_the_indexed_sum() -> None:
    """The accelerator formula (a masked sum) against the CPU one, on the same values: equal to rounding."""
    generator = torch.Generator().manual_seed(0)
    values = torch.rand((4, 32, 32), generator=generator)
    selected = torch.rand((4, 32, 32), generator=generator) < 0.7
    masked = torch.where(selected, values, torch.zeros(())).sum()
    torch.testing.assert_close(masked, selected_sum(values, selected), rtol=1e-6, atol=0)
    assert torch.equal(selected_sum(values, selected), values[selected].sum())  # CPU keeps the indexed order
    assert torch.equal(selected_mean(values, selected), values[selected].mean())


def test_an_empty_selection_has_no_mean() -> None:
    values = torch.ones(3, 3)
    assert torch.isnan(selected_mean(values, torch.zeros(3, 3, dtype=torch.bool)))
