"""Combining reward components into the training reward (conf/reward_combine/).

One signature, selected by `_target_`:

    fn(components, group_ids) -> (N,) training reward
    components  name -> (N,) float: "task" (the environment's reward) and every shaping term
    group_ids   (N,) rollouts of one task share an id

    sum                 R = sum_k r^k                                    (the default)
    normalize_then_sum  R = sum_k z^k,   z^k = (r^k - mean_g r^k) / (std_g r^k + eps)
    dvao                R = sum_k w_k z^k,  w_k = var_g r^k / sum_j var_g r^j  (0 if all are 0)

mean_g / std_g / var_g are over the rollouts of the group (unbiased std, as `normalize`; 0 for
a group of one or an all-equal component, so such a group gets R = 0, never NaN).

DVAO (Jiang et al., "DVAO: Dynamic Variance-adaptive Advantage Optimization for Multi-reward
Reinforcement Learning", arXiv 2605.25604) weights each component by its within-group variance,
so components whose rollouts disagree (a learning signal) dominate and saturated ones drop out,
and bounds the advantage magnitude. The formula above is our reading of the abstract (the
paper's equations were not available to us): per group the weights are a convex combination,
so |R_i| <= max_k |z^k_i| <= (G - 1) / sqrt(G) and mean_g R^2 <= 1 -- a bounded advantage,
where summing raw components is not. Its output is already a centred, bounded advantage per
group: `advantage=dr_grpo` (mean-centring only) keeps it as is; `grpo` re-divides each group by
its std (the relative weighting survives, the bound becomes unit std).

Single-turn (and whole-trajectory) rows are episodes. For multi-turn step rows, `sum` adds the
components row by row (per-step rewards stay on their steps); the group-statistics combiners
work on episode returns (each component summed over the episode's steps), group by group, and
put the combined value on each episode's last step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from rlx.algos.episodes import episode_groups, episode_totals, pair_index
from rlx.algos.normalize import moments, normalize

CombineFn = Callable[[Mapping[str, Tensor], Tensor], Tensor]


def reward_sum(components: Mapping[str, Tensor], group_ids: Tensor) -> Tensor:
    """R = sum of the components (rlx's behaviour before combiners existed)."""
    return torch.stack([c.float() for c in components.values()]).sum(0)


def normalize_then_sum(components: Mapping[str, Tensor], group_ids: Tensor, *,
                       eps: float = 1e-6) -> Tensor:
    """R = sum_k (r^k - mean_g r^k) / (std_g r^k + eps): each component on the same scale."""
    return torch.stack([normalize(c.float(), None, group_ids, eps=eps)
                        for c in components.values()]).sum(0)


def dvao(components: Mapping[str, Tensor], group_ids: Tensor, *, eps: float = 1e-6) -> Tensor:
    """R = sum_k w_k z^k with w_k = var_g r^k / sum_j var_g r^j (module docstring)."""
    values = [c.float() for c in components.values()]
    variances = torch.stack([group_variance(v, group_ids) for v in values])  # (K, N)
    total = variances.sum(0)
    weights = torch.where(total > 0, variances / total.clamp(min=torch.finfo(total.dtype).tiny),
                          torch.zeros_like(variances))
    z = torch.stack([normalize(v, None, group_ids, eps=eps) for v in values])
    return (weights * z).sum(0)


normalize_then_sum.uses_group_stats = True
dvao.uses_group_stats = True


def group_variance(values: Tensor, group_ids: Tensor) -> Tensor:
    """Unbiased within-group variance of each row's group, (N,); 0 for a group of one, and
    exactly 0 for a group of equal values (`moments`' shifted data)."""
    return moments(values, None, group_ids, "group")[1]


def uses_group_stats(combine: CombineFn) -> bool:
    """True for combiners that need whole episodes grouped (works on partials)."""
    while isinstance(combine, functools.partial):
        combine = combine.func
    return bool(getattr(combine, "uses_group_stats", False))


def combine_rewards(combine: CombineFn, components: Mapping[str, Tensor], group_ids: Tensor,
                    episode_ids: Tensor | None = None, step_ids: Tensor | None = None) -> Tensor:
    """The (B,) row rewards from per-row components: rows are episodes unless `episode_ids`
    (multi-turn step rows), where group-statistics combiners run on episode returns and the
    result sits on each episode's last step (module docstring)."""
    if episode_ids is None or not uses_group_stats(combine):
        return combine(components, group_ids)
    index, n = pair_index(group_ids, episode_ids)
    totals = {name: episode_totals(c.float(), index, n) for name, c in components.items()}
    combined = combine(totals, episode_groups(index, group_ids, n))
    last_step = torch.full((n,), -1, dtype=torch.long).scatter_reduce(0, index, step_ids.long(), "amax")
    is_last = step_ids.long() == last_step[index]
    return torch.where(is_last, combined[index], torch.zeros_like(combined[index]))
