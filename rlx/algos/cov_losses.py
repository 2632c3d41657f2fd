"""Clip-Cov and KL-Cov: policy losses that control entropy through the covariance of
log-probability and advantage (Cui et al., "The Entropy Mechanism of Reinforcement Learning for
Reasoning Language Models", arXiv 2505.22617).

The paper shows that, under a policy-gradient step, the policy entropy falls in proportion to the
covariance between a token's log-probability and its advantage: confident tokens with a high
advantage are what collapse the entropy. Both losses score every action token of the call by its
centred covariance

    cov_t = (A_t - mean(A)) * (logp_t - mean(logp))      means over this call's action tokens,
                                                          logp detached

and treat a small fraction of high-covariance tokens differently from the rest:

    clip_cov  PPO clip; among the tokens the PPO clip left alone whose covariance lies in the band
              (cov_low, cov_high), a random max(1, floor(cov_fraction x N)) are detached: they keep
              their loss value but pass no gradient (paper: r = 2e-4, band (1, 5)).
    kl_cov    plain surrogate -A r (no clip); the max(1, floor(kl_fraction x N)) tokens with the
              largest covariance get + kl_coef |logp - old_logp| (paper: k = 2e-3 for Qwen2.5-7B,
              2e-4 for 32B; beta = 1; |log r| is the KL estimate the authors' code uses).

N is the number of action tokens in the call (a micro-batch, as in the authors' code), so the
selection depends on `trainer.micro_batch_size`. A mismatch-correction `token_weights` scales the
surrogate only (not KL-Cov's penalty). Same signature and stats as
`rlx.algos.losses.ppo_clip`, plus policy/cov_clipfrac or policy/kl_cov_frac (the selected share).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rlx.algos.losses import Aggregation, _clipped_objective, _masked_log_ratio, _masked_mean


def token_covariance(logprobs: Tensor, advantages: Tensor, action_mask: Tensor) -> Tensor:
    """cov_t = (A_t - mean A) (logp_t - mean logp) over the action tokens; (B, T), 0 off them.
    The means are over all action tokens of the call; logp is detached."""
    mask = action_mask.bool()
    logp = logprobs.detach()
    adv = advantages.detach().to(logp.dtype)
    count = mask.sum().clamp(min=1)
    zero = torch.zeros_like(logp)
    adv_mean = torch.where(mask, adv, zero).sum() / count
    logp_mean = torch.where(mask, logp, zero).sum() / count
    return torch.where(mask, (adv - adv_mean) * (logp - logp_mean), zero)


def selection_size(fraction: float, num_tokens: int) -> int:
    """max(1, floor(fraction x num_tokens)) tokens, or 0 for a call without action tokens."""
    return max(1, int(fraction * num_tokens)) if num_tokens > 0 else 0


def clip_cov_tokens(
    cov: Tensor, candidates: Tensor, count: int, generator: torch.Generator | None = None
) -> Tensor:
    """A uniformly random subset of `count` candidate tokens (all of them if fewer). (B, T) bool.
    Draws from `generator` (CPU), or from torch's default generator, which rlx seeds from the
    run seed and saves in checkpoints."""
    count = min(count, int(candidates.sum()))
    priority = torch.rand(cov.shape, generator=generator).to(cov.device)
    priority = torch.where(candidates, priority, torch.full_like(priority, -1.0))
    return top_tokens(priority, count)


def top_tokens(scores: Tensor, count: int) -> Tensor:
    """(B, T) bool marking the `count` largest entries of `scores` (B, T)."""
    flat = torch.zeros(scores.numel(), dtype=torch.bool, device=scores.device)
    if count > 0:
        flat[scores.reshape(-1).topk(count).indices] = True
    return flat.view(scores.shape)


def clip_cov(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    action_mask: Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    cov_fraction: float = 2e-4,
    cov_low: float = 1.0,
    cov_high: float = 5.0,
    agg: Aggregation = "token_mean",
    norm_len: int | None = None,
    num_tokens: float | None = None,
    num_seqs: float | None = None,
    generator: torch.Generator | None = None,
    token_weights: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Clip-Cov (arXiv 2505.22617): PPO clip, plus the gradient of a random few
    high-covariance tokens removed.

    Candidates: action tokens the PPO clip did not clip with cov_low < cov_t < cov_high.
    max(1, floor(cov_fraction x N)) of them (N = action tokens of the call), drawn uniformly
    without replacement, get their log-ratio detached: same loss value, zero gradient. All
    (B, T); stats as `ppo_clip` plus policy/cov_clipfrac (detached share of action tokens).
    """
    log_ratio = _masked_log_ratio(logprobs, old_logprobs, action_mask)
    mask = action_mask.bool()
    with torch.no_grad():
        ratio = torch.exp(log_ratio)
        adv = advantages.detach()
        ppo_clipped = -adv * ratio.clamp(1.0 - clip_low, 1.0 + clip_high) > -adv * ratio
        cov = token_covariance(logprobs, advantages, action_mask)
        candidates = mask & ~ppo_clipped & (cov > cov_low) & (cov < cov_high)
        detached = clip_cov_tokens(cov, candidates, selection_size(cov_fraction, int(mask.sum())),
                                   generator)
    log_ratio_used = torch.where(detached, log_ratio.detach(), log_ratio)
    loss, stats = _clipped_objective(
        log_ratio_used, log_ratio, advantages, action_mask,
        clip_low, clip_high, None, agg, norm_len, num_tokens, num_seqs,
        token_weights=token_weights,
    )
    stats["policy/cov_clipfrac"] = _masked_mean(detached.to(log_ratio.dtype), mask.to(log_ratio.dtype))
    return loss, stats


def kl_cov(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    action_mask: Tensor,
    *,
    kl_fraction: float = 2e-3,
    kl_coef: float = 1.0,
    agg: Aggregation = "token_mean",
    norm_len: int | None = None,
    num_tokens: float | None = None,
    num_seqs: float | None = None,
    token_weights: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """KL-Cov (arXiv 2505.22617): the unclipped surrogate -A r on every action token, plus
    kl_coef |logp - old_logp| on the max(1, floor(kl_fraction x N)) tokens with the largest
    covariance cov_t. All (B, T); stats as `ppo_clip` (clip fractions are 0: nothing is
    clipped) plus policy/kl_cov_frac (penalised share of action tokens).
    """
    log_ratio = _masked_log_ratio(logprobs, old_logprobs, action_mask)
    mask = action_mask.bool()
    with torch.no_grad():
        cov = token_covariance(logprobs, advantages, action_mask)
        count = selection_size(kl_fraction, int(mask.sum()))
        penalised = top_tokens(torch.where(mask, cov, torch.full_like(cov, float("-inf"))), count)
    penalty = torch.where(penalised, kl_coef * log_ratio.abs(), torch.zeros_like(log_ratio))
    inf = float("inf")  # no ratio clipping in KL-Cov
    loss, stats = _clipped_objective(
        log_ratio, log_ratio, advantages, action_mask,
        inf, inf, None, agg, norm_len, num_tokens, num_seqs, token_penalty=penalty,
        token_weights=token_weights,
    )
    stats["policy/kl_cov_frac"] = _masked_mean(penalised.to(log_ratio.dtype), mask.to(log_ratio.dtype))
    return loss, stats
