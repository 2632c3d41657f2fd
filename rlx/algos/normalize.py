"""Advantage normalisation as one explicit, configurable step.

Two independent choices (METHODS.md): which mean is subtracted and which standard deviation
divides, each over the rollout's `group`, the whole `batch`, or `none`:

    GRPO (DeepSeekMath, arXiv 2402.03300)        mean=group, std=group
    Dr. GRPO (arXiv 2503.20783)                  mean=group, std=none
    Lite PPO ("Tricks or Traps? A Deep Dive into RL for LLM Reasoning")
                                                 mean=group, std=batch
    batch whitening (REINFORCE++, PPO)           mean=batch, std=batch
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from rlx.algos.groups import group_index

Scope = Literal["group", "batch", "none"]


def normalize(
    x: Tensor,
    mask: Tensor | None = None,
    group_ids: Tensor | None = None,
    *,
    mean: Scope = "group",
    std: Scope = "group",
    eps: float = 1e-6,
) -> Tensor:
    """Return `(x - mean) / (std + eps)` with the statistics taken over the chosen scope.

    Args:
        x: per-sequence scores (B,) or per-token values (B, T).
        mask: same shape as `x`, marks the entries that count (and receive a value); for
            token values this is the `action_mask`. None: every entry counts.
        group_ids: (B,) arbitrary integer ids; needed when a choice is "group".
        mean / std: "group", "batch" or "none" (subtract nothing / divide by nothing).
        eps: added to the standard deviation.

    Statistics are over the masked entries: for (B,) scores, over the sequences of a group
    (or the batch); for (B, T) values, over all masked tokens of all sequences of a group
    (or of the batch), so longer sequences weigh more. The std is the *unbiased* (Bessel,
    n - 1) sample std, as `torch.std` in the GRPO reference code; it is 0 where fewer than
    two entries count. Hence a group of one, or a group whose rewards are all equal, gets
    exactly 0 with mean="group" (no NaN). Note mean="none" with a std choice divides raw
    values, so a zero-spread group gives x / eps; pair std with a mean choice. With eps=0 a
    zero std leaves the centred value undivided (0 for a group of one) instead of NaN.

    Returns: same shape as `x`, exactly 0 where `mask` is 0.
    """
    weight = torch.ones_like(x) if mask is None else mask.to(x.dtype)
    x = torch.where(weight > 0, x, torch.zeros_like(x))
    centre = _mean_and_std(x, weight, group_ids, mean)[0] if mean != "none" else 0.0
    out = x - centre
    if std != "none":
        scale = _mean_and_std(x, weight, group_ids, std)[1] + eps
        out = torch.where(scale > 0, out / scale.clamp(min=torch.finfo(x.dtype).tiny), out)
    return out * weight


def _mean_and_std(
    x: Tensor, weight: Tensor, group_ids: Tensor | None, scope: Scope
) -> tuple[Tensor, Tensor]:
    """Masked mean and unbiased std over `scope`, shaped to broadcast against `x`."""
    if scope == "batch":
        count = weight.sum()
        mean = (x * weight).sum() / count.clamp(min=1)
        sq = ((x - mean) ** 2 * weight).sum()
        return mean, _unbiased_std(sq, count)
    if group_ids is None:
        raise ValueError("normalize: a 'group' statistic needs group_ids")
    index, n_groups = group_index(group_ids)

    def per_group(values: Tensor) -> Tensor:  # row totals (B,) -> group totals (n_groups,)
        rows = values if values.dim() == 1 else values.sum(-1)
        return values.new_zeros(n_groups).index_add_(0, index, rows)

    count = per_group(weight)
    mean = (per_group(x * weight) / count.clamp(min=1))[index]
    mean = mean if x.dim() == 1 else mean[:, None]
    std = _unbiased_std(per_group((x - mean) ** 2 * weight), count)[index]
    return mean, std if x.dim() == 1 else std[:, None]


def _unbiased_std(sum_sq: Tensor, count: Tensor) -> Tensor:
    """sqrt(sum_sq / (n - 1)), and 0 where n < 2."""
    var = sum_sq / (count - 1).clamp(min=1)
    return torch.where(count > 1, var, torch.zeros_like(var)).sqrt()
