"""KL to a reference policy (per token) and PPO's clipped value loss."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from rlx.algos.losses import aggregate

KLEstimator = Literal["k1", "k2", "k3"]


def kl_penalty(logprobs: Tensor, ref_logprobs: Tensor, estimator: KLEstimator = "k3") -> Tensor:
    """Per-token estimate of KL(pi || pi_ref) from samples of pi. (B, T) -> (B, T), unmasked.

    J. Schulman, "Approximating KL Divergence" (2020, joschu.net/blog/kl-approx.html), with
    d = logp - ref_logp:
        k1 = d                      unbiased, can be negative
        k2 = d^2 / 2                biased, low variance, >= 0
        k3 = exp(-d) - (-d) - 1     unbiased, >= 0 (GRPO's KL term, arXiv 2402.03300)
    d is clamped to +-20 for k3 so exp stays finite. Callers mask off non-action tokens.
    """
    diff = logprobs - ref_logprobs
    if estimator == "k1":
        return diff
    if estimator == "k2":
        return 0.5 * diff**2
    if estimator == "k3":
        neg = (-diff).clamp(-20.0, 20.0)
        return torch.exp(neg) - neg - 1.0
    raise ValueError(f"unknown KL estimator {estimator!r}; choose k1, k2 or k3")


def value_loss(
    values: Tensor,
    returns: Tensor,
    old_values: Tensor | None,
    action_mask: Tensor,
    clip: float | None = 0.2,
    *,
    num_tokens: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO's critic loss, token-mean over action tokens (arXiv 1707.06347; clipping as in
    OpenAI baselines' ppo2):

        l = 1/2 max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2)   (clip=None: 1/2 (V - R)^2)

    values, returns, old_values, action_mask: (B, T). `num_tokens`: see `aggregate`.
    Returns (loss, stats) with value/clipfrac and value/mean (masked means, detached).
    """
    mask = action_mask.to(values.dtype)
    returns = returns.detach()
    loss_mat = (values - returns) ** 2
    is_clipped = torch.zeros_like(mask, dtype=torch.bool)
    if clip is not None:
        old_values = old_values.detach()
        clipped_loss = (old_values + (values - old_values).clamp(-clip, clip) - returns) ** 2
        # the clipped term is the one used, and it differs from the unclipped one (outside the range)
        is_clipped = (clipped_loss > loss_mat) & ((values - old_values).abs() > clip)
        loss_mat = torch.maximum(loss_mat, clipped_loss)
    loss = 0.5 * aggregate(loss_mat, action_mask, "token_mean", num_tokens=num_tokens)
    with torch.no_grad():
        count = mask.sum().clamp(min=1)
        stats = {
            "value/clipfrac": (is_clipped.to(mask.dtype) * mask).sum() / count,
            "value/mean": (values * mask).sum() / count,
        }
    return loss, stats
