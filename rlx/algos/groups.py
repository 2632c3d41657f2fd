"""Group bookkeeping shared by the estimators: rollouts of one task share a `group_id`."""

from __future__ import annotations

import torch
from torch import Tensor


def group_index(group_ids: Tensor) -> tuple[Tensor, int]:
    """Map arbitrary integer ids (B,) to dense indices 0..n-1 (B,) and return (index, n)."""
    _, index = torch.unique(group_ids, return_inverse=True)
    return index, int(index.max().item()) + 1 if index.numel() else 0


def group_sum(values: Tensor, group_ids: Tensor) -> Tensor:
    """Per-row sum over the row's group: out[i] = sum_{j: g_j = g_i} values[j]. (B,) -> (B,)."""
    index, n = group_index(group_ids)
    totals = values.new_zeros(n).index_add_(0, index, values)
    return totals[index]


def group_size(group_ids: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """Number of rollouts in each row's group, (B,) of `dtype`."""
    return group_sum(torch.ones(group_ids.shape, dtype=dtype, device=group_ids.device), group_ids)
