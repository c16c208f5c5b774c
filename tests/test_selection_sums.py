"""Small-loss selection and sums: the selection is a stable sort's first ``count`` (found by kthvalue); the sums use
boolean indexing on CPU, a masked sum without read-back elsewhere, and agree."""

from __future__ import annotations

import pytest
import torch

from methods.selection import kth_largest, selected_mean, selected_sum, smallest_mask


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


@pytest.mark.parametrize("count", [0, 1, 7, 500, 1023, 1024, 2000])
def test_smallest_mask_is_the_stable_sorts_first_count(count: int) -> None:
    """Many ties (values in steps of 1/8, and both zeros): the earliest tied positions are kept."""
    generator = torch.Generator().manual_seed(1)
    values = torch.randint(0, 16, (4, 16, 16), generator=generator).float() / 8
    values[0, 0, :4] = -0.0
    expected = torch.zeros(values.numel(), dtype=torch.bool)
    expected[torch.sort(values.reshape(-1), stable=True).indices[:count]] = True
    assert torch.equal(smallest_mask(values, count), expected.reshape(values.shape))


@pytest.mark.parametrize("k", [0, 1, 2, 100, 700, 1023, 1024])
def test_kth_largest_is_the_descending_sorts_kth(k: int) -> None:
    """Ties (steps of 1/4), signed zeros and -inf (SP-Guide's masked-out class): the same value as the sort."""
    generator = torch.Generator().manual_seed(2)
    values = torch.randint(-4, 4, (1024,), generator=generator).float() / 4
    values[:5] = torch.tensor([-0.0, 0.0, -torch.inf, -torch.inf, 0.0])
    expected = torch.sort(values, descending=True).values[max(k - 1, 0)]
    found = kth_largest(values, torch.tensor(k))
    assert found.dim() == 0
    assert found == expected
