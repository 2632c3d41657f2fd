"""D^3S, dynamic dual-level down-sampling (Wang et al. 2025, "Learning More with Less",
arXiv 2509.22115): train on the rollouts and tokens that carry the most signal, aggressively at
first and on everything by the end.

Sample level (within each group, the paper's intra-group variant): of the group's G rollouts keep
the k = max(2, ceil(f_s G)) whose advantages have the largest variance,

    S* = argmax_{|S| = k} Var({A_i : i in S}),

which the paper shows raises an upper bound on the policy-gradient norm. The maximiser is always
the j largest and k - j smallest advantages for some j: the variance is convex in each member, so
a member with unchosen values on both sides can be swapped for one of them without lowering it.
So only the k + 1 such candidates are checked (`max_variance_subset`).

Token level (across the batch): of the kept rollouts' action tokens keep the ceil(f_t M)
(M = their count) with the largest |A_{i,t}| x H_{i,t}, H the policy's entropy at the token:
tokens that matter for the return and where the policy is uncertain.

Schedule: f(t) = f_0 + (1 - f_0) min(1, t / (until x total_iters)), t the iteration; both levels
relax linearly from their start fraction to keeping everything at `until` of training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from rlx.curriculum.uniform import UniformCurriculum
from rlx.envs.base import Score, Task


def max_variance_subset(values: torch.Tensor, k: int) -> torch.Tensor:
    """values (G,) -> the indices (k,), ascending, of the k values with the largest population
    variance; ties go to the candidate with fewer top values. k >= G keeps everything."""
    n = values.numel()
    if k >= n:
        return torch.arange(n)
    order = torch.argsort(values, stable=True)
    best, best_idx = -1.0, order[:k]
    for top in range(k + 1):
        idx = torch.cat([order[: k - top], order[n - top:]])
        var = values[idx].double().var(unbiased=False).item()
        if var > best:
            best, best_idx = var, idx
    return best_idx.sort().values


def top_fraction_mask(scores: torch.Tensor, mask: torch.Tensor, fraction: float) -> torch.Tensor:
    """scores, mask (B, T) -> (B, T) bool: the ceil(fraction x M) highest-scoring positions
    among the M where `mask` is True (ties broken by position)."""
    mask = mask.bool()
    m = int(mask.sum())
    keep = math.ceil(fraction * m)
    if keep >= m:
        return mask.clone()
    flat = torch.where(mask, scores.float(), float("-inf")).flatten()
    chosen = torch.zeros_like(flat, dtype=torch.bool)
    chosen[torch.topk(flat, keep, sorted=False).indices] = True
    return chosen.view(mask.shape) & mask


def keep_schedule(iteration: int, total_iters: int, start: float, until: float) -> float:
    """The kept fraction at `iteration`: `start`, rising linearly to 1.0 at until x total_iters."""
    span = until * total_iters
    if span <= 0:
        return 1.0
    return start + (1.0 - start) * min(1.0, iteration / span)


def unit_advantages(advantages: torch.Tensor, action_mask: torch.Tensor,
                    unit_ids: torch.Tensor) -> torch.Tensor:
    """(U,) the mean advantage over each unit's action tokens (units 0..U-1; 0 with none)."""
    mask = action_mask.float()
    num = int(unit_ids.max()) + 1 if unit_ids.numel() else 0
    sums = torch.zeros(num).index_add_(0, unit_ids, (advantages.float() * mask).sum(-1))
    counts = torch.zeros(num).index_add_(0, unit_ids, mask.sum(-1))
    return sums / counts.clamp(min=1)


class D3SCurriculum:
    """Uniform task order; sample- and token-level down-sampling of the training batch.

    tasks, seed: given by the trainer. sample_keep / token_keep: the fractions kept at the start
    (1.0 turns a level off). until: the share of training after which everything is kept.
    total_iters: the run's iterations (`${iterations}` in the config).
    """

    def __init__(self, tasks: Sequence[Task], seed: int, total_iters: int,
                 sample_keep: float = 0.5, token_keep: float = 0.5, until: float = 0.8):
        for name, value in (("sample_keep", sample_keep), ("token_keep", token_keep), ("until", until)):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"curriculum.{name} must be in (0, 1], got {value}")
        if total_iters < 1:
            raise ValueError(f"curriculum.total_iters must be >= 1, got {total_iters}")
        self.order = UniformCurriculum(tasks, seed)
        self.total_iters, self.until = total_iters, until
        self.sample_keep, self.token_keep = sample_keep, token_keep
        self.iteration = 0

    def fractions(self) -> tuple[float, float]:
        """(sample, token) fractions kept at the current iteration."""
        return tuple(keep_schedule(self.iteration, self.total_iters, start, self.until)
                     for start in (self.sample_keep, self.token_keep))

    def sample(self, n: int) -> list[Task]:
        return self.order.sample(n)

    def select(self, advantages: torch.Tensor, action_mask: torch.Tensor, group_ids: torch.Tensor,
               unit_ids: torch.Tensor, entropy: torch.Tensor | None,
               ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        f_sample, f_token = self.fractions()
        unit_adv = unit_advantages(advantages, action_mask, unit_ids)
        unit_group = torch.zeros(len(unit_adv), dtype=torch.long).index_copy_(0, unit_ids, group_ids)
        keep_unit = torch.zeros(len(unit_adv), dtype=torch.bool)
        for g in unit_group.unique():
            units = (unit_group == g).nonzero().squeeze(1)
            k = min(len(units), max(2, math.ceil(f_sample * len(units))))
            keep_unit[units[max_variance_subset(unit_adv[units], k)]] = True
        rows = keep_unit[unit_ids]
        score = advantages.abs() * (entropy if entropy is not None else 1.0)
        tokens = top_fraction_mask(score, action_mask.bool() & rows[:, None], f_token)
        total = max(int(action_mask.sum()), 1)
        return rows, tokens, {
            "curriculum/kept_sample_frac": keep_unit.float().mean().item(),
            "curriculum/kept_token_frac": int(tokens.sum()) / total,
            "curriculum/sample_keep": f_sample, "curriculum/token_keep": f_token,
        }

    def update(self, tasks: Sequence[Task], scores: Sequence[Score]) -> dict[str, float]:
        self.iteration += 1
        return {"curriculum/epoch": float(self.order.epoch)}

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order.state_dict(), "iteration": self.iteration}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order.load_state_dict(state["order"])
        self.iteration = state["iteration"]
