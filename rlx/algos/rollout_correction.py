"""Sampler/trainer mismatch: how far the sampler's log-probs (vLLM) lie from the trainer's own,
and the importance weights that correct the policy gradient for the gap.

The sampler and the trainer compute the "same" policy with different kernels, precisions and
batching, so a token sampled with probability q (sampler) has a slightly different probability
p under the trainer's weights at sampling time (the old log-probs). The rollouts are therefore
mildly off-policy even in a strictly on-policy update. With d_t = logp_trainer_t - logp_sampler_t
on an action token t and rho_t = exp(d_t) = p_t / q_t (Yao et al., "Your Efficient RL Framework
Secretly Brings You Off-Policy RL Training", fengyao.notion.site/off-policy-rl, 2025):

Diagnostics (`mismatch_metrics`), means over action tokens:
    rollout/logprob_abs_diff   mean |d_t|          (TRL's sampling/sampling_logp_difference/mean)
    rollout/mismatch_kl        mean (rho_t - 1 - d_t)
        the k3 estimator (Schulman, "Approximating KL Divergence", 2020) of KL(sampler || trainer)
        from the sampler's samples: E_q[p/q - 1 - log(p/q)] = KL(q || p). verl's
        rollout_corr/k3_kl (rollout_corr_helper.compute_offpolicy_metrics) is the same quantity.

Corrections (`correction_weights`): a detached weight w on each action token's policy-gradient
term (the per-token surrogate loss is multiplied by w before aggregation), C = `high`:

    tis, token      w_t = min(rho_t, C)
        verl algorithm.rollout_correction.rollout_is=token (rollout_is_threshold C, default 2),
        TRL GRPOConfig vllm_importance_sampling_mode=token_truncate (vllm_importance_sampling_cap),
        NeMo-RL truncated_importance_sampling_type=tis without its optional floor.
    tis, sequence   w_t = min(prod_{s in o_i} rho_s, C) for every token of sequence i
        verl rollout_is=sequence, TRL sequence_truncate (the product, i.e. exp of the summed d).
    mis, token      w_t = rho_t if low <= rho_t <= C else 0
        masked IS / "IcePop" (Ling team, "Every Step Evolves", arXiv 2510.18855):
        NeMo-RL truncated_importance_sampling_type=icepop, OpenRLHF vllm_is_correction_type=icepop.
        TRL's token_mask is the one-sided case low = 0.
    mis, sequence   w_t = rho_t if low <= exp(mean_{s in o_i} d_s) <= C else 0, for all t in o_i
        the whole sequence is kept or dropped by the geometric mean of its token ratios, kept
        tokens carry their own rho_t: NeMo-RL / OpenRLHF seq-mask-tis; verl's
        rollout_rs=geometric masks the same sequences (its rejection mask alone keeps weight 1).
        TRL's sequence_mask differs: it thresholds the product, not the geometric mean, which
        rejects long sequences far more often; the geometric mean does not depend on length.

`low` defaults to 1/C (verl's rollout_rs_threshold_lower default); TIS truncates from above only
(verl, TRL), so `low` is used by MIS alone. d is clamped to +-20 everywhere (verl's SAFETY_BOUND),
which only matters for degenerate tokens (a log-prob of -inf on one side).
The trainer's old log-probs are the ones at sampling time: in a strictly on-policy update rlx
takes them from the update's own forward (detached), which gives the same values.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

CorrectionMode = Literal["none", "tis", "mis"]
CorrectionLevel = Literal["token", "sequence"]
SAFETY_BOUND = 20.0


def _log_ratio(trainer_logprobs: Tensor, sampler_logprobs: Tensor, mask: Tensor) -> Tensor:
    """d = logp_trainer - logp_sampler, detached, clamped to +-20, 0 off `mask` (B, T)."""
    diff = (trainer_logprobs.detach().float() - sampler_logprobs.float()).clamp(-SAFETY_BOUND, SAFETY_BOUND)
    return torch.where(mask, diff, torch.zeros_like(diff))


def _mean(values: Tensor, mask: Tensor) -> Tensor:
    m = mask.to(values.dtype)
    return (values * m).sum() / m.sum().clamp(min=1)


def mismatch_metrics(trainer_logprobs: Tensor, sampler_logprobs: Tensor,
                     action_mask: Tensor) -> dict[str, Tensor]:
    """rollout/logprob_abs_diff and rollout/mismatch_kl (see the module docstring): detached
    means over the action tokens of (B, T) inputs."""
    mask = action_mask.bool()
    d = _log_ratio(trainer_logprobs, sampler_logprobs, mask)
    return {
        "rollout/logprob_abs_diff": _mean(d.abs(), mask),
        "rollout/mismatch_kl": _mean(torch.exp(d) - 1.0 - d, mask),
    }


def correction_weights(
    trainer_logprobs: Tensor,
    sampler_logprobs: Tensor,
    action_mask: Tensor,
    *,
    mode: CorrectionMode,
    level: CorrectionLevel = "token",
    high: float = 2.0,
    low: float | None = None,
) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
    """Detached per-token weights (B, T) for the policy-gradient terms, 0 off the action tokens
    (formulas and sources in the module docstring), and their stats:

    token stats (means over action tokens): rollout/is_weight_mean (mean w), and
        rollout/is_clipped_frac (tis: tokens whose weight was truncated at C) or
        rollout/is_masked_frac (mis: tokens given weight 0);
    sequence stats (means over sequences with action tokens): rollout/is_clipped_seq_frac or
        rollout/is_masked_seq_frac, the share of sequences with at least one such token (at
        sequence level: the sequences truncated / dropped as a whole).
    mode="none" gives weight 1 on every action token and no clip/mask stats.
    """
    if high <= 0 or (low is not None and not 0 <= low <= high):
        raise ValueError(f"rollout correction thresholds need 0 <= low <= high, high > 0 "
                         f"(got low={low}, high={high})")
    mask = action_mask.bool()
    d = _log_ratio(trainer_logprobs, sampler_logprobs, mask)
    rho = torch.where(mask, torch.exp(d), torch.zeros_like(d))
    tokens = mask.sum(-1)
    if mode == "none":
        return mask.to(d.dtype), {"rollout/is_weight_mean": _mean(mask.to(d.dtype), mask)}, {}
    if mode == "tis":
        if level == "token":
            hit = mask & (rho > high)
            weights = rho.clamp(max=high)
        else:
            seq_rho = torch.exp(d.sum(-1).clamp(-SAFETY_BOUND, SAFETY_BOUND))  # (B,) product
            hit = mask & (seq_rho > high)[:, None]
            weights = torch.where(mask, seq_rho.clamp(max=high)[:, None].expand_as(d), torch.zeros_like(d))
        name = "clipped"
    elif mode == "mis":
        floor = 1.0 / high if low is None else low
        if level == "token":
            keep = (rho >= floor) & (rho <= high)
        else:
            geo = torch.exp(d.sum(-1) / tokens.clamp(min=1))  # (B,) geometric mean of rho
            keep = ((geo >= floor) & (geo <= high))[:, None].expand_as(d)
        hit = mask & ~keep
        weights = torch.where(keep & mask, rho, torch.zeros_like(rho))
        name = "masked"
    else:
        raise ValueError(f"unknown rollout correction {mode!r}; choose none, tis or mis")
    acting = tokens > 0
    token_stats = {"rollout/is_weight_mean": _mean(weights, mask),
                   f"rollout/is_{name}_frac": _mean(hit.to(d.dtype), mask)}
    seq_stats = {f"rollout/is_{name}_seq_frac": _mean(hit.any(-1).to(d.dtype), acting)}
    return weights.detach(), token_stats, seq_stats
