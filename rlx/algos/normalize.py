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
    exactly 0 with mean="group" (no NaN), in float32 as in float64: the statistics are taken
    of the values shifted by one of the scope's own members (`moments`), so equal members
    centre to exactly 0 and their std is exactly 0, even for values such as 0.1 or 0.7 that
    binary floating point cannot represent (a plain sum / n is an ulp off there, and that ulp
    divided by a ~1e-7 std gave |A| up to 0.3). The same holds for mean="batch" over a batch
    of equal values. Note mean="none" with a std choice divides raw
    values, so a zero-spread group gives x / eps; pair std with a mean choice. With eps=0 a
    zero std leaves the centred value undivided (0 for a group of one) instead of NaN.

    Returns: same shape as `x`, exactly 0 where `mask` is 0.
    """
    weight = torch.ones_like(x) if mask is None else mask.to(x.dtype)
    x = torch.where(weight > 0, x, torch.zeros_like(x))
    centre = moments(x, weight, group_ids, mean)[0] if mean != "none" else 0.0
    out = x - centre
    if std != "none":
        scale = moments(x, weight, group_ids, std)[1].sqrt() + eps
        out = torch.where(scale > 0, out / scale.clamp(min=torch.finfo(x.dtype).tiny), out)
    return out * weight


def moments(
    x: Tensor, weight: Tensor | None, group_ids: Tensor | None, scope: Literal["group", "batch"]
) -> tuple[Tensor, Tensor]:
    """Masked mean and unbiased (n - 1) variance over `scope`, shaped to broadcast against `x`.

    Shifted data: each scope's statistics are taken of `x - s` with `s` one of its own members
    (the smallest masked entry), then `mean = s + mean(x - s)`. For equal members `x - s` is
    exactly 0, so the mean is exactly the members' value and the variance exactly 0 in any
    dtype; the direct sum / n is off by an ulp for values such as 0.1 or 0.7, which then
    divided by a std of ~1e-7 gives a "zero" advantage of order 0.1. The variance is 0 where
    fewer than two entries count. `weight` None: every entry counts.
    """
    weight = torch.ones_like(x) if weight is None else weight.to(x.dtype)
    counted = weight > 0
    x = torch.where(counted, x, torch.zeros_like(x))
    if scope == "batch":
        count = weight.sum()
        shift = x[counted].min() if bool(counted.any()) else x.new_zeros(())
        d = x - shift
        mean_d = (d * weight).sum() / count.clamp(min=1)
        sq = ((d - mean_d) ** 2 * weight).sum()
        return shift + mean_d, _unbiased_var(sq, count)
    if group_ids is None:
        raise ValueError("normalize: a 'group' statistic needs group_ids")
    index, n_groups = group_index(group_ids)

    def per_group(values: Tensor) -> Tensor:  # row totals (B,) -> group totals (n_groups,)
        rows = values if values.dim() == 1 else values.sum(-1)
        return values.new_zeros(n_groups).index_add_(0, index, rows)

    def rows(group_values: Tensor) -> Tensor:  # (n_groups,) -> broadcastable against x
        out = group_values[index]
        return out if x.dim() == 1 else out[:, None]

    inf = torch.full_like(x, torch.inf)
    row_min = torch.where(counted, x, inf)
    row_min = row_min if x.dim() == 1 else row_min.amin(-1)
    shift = x.new_full((n_groups,), torch.inf).scatter_reduce(0, index, row_min, "amin")
    shift = rows(torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift)))
    d = torch.where(counted, x - shift, torch.zeros_like(x))
    count = per_group(weight)
    mean_d = rows(per_group(d * weight) / count.clamp(min=1))
    var = rows(_unbiased_var(per_group((d - mean_d) ** 2 * weight), count))
    return shift + mean_d, var


def _unbiased_var(sum_sq: Tensor, count: Tensor) -> Tensor:
    """sum_sq / (n - 1), and 0 where n < 2."""
    var = sum_sq / (count - 1).clamp(min=1)
    return torch.where(count > 1, var, torch.zeros_like(var))
