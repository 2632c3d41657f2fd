"""Policy losses: one signature, selected by `_target_` under `loss.policy` in conf/loss/.

    fn(logprobs, old_logprobs, advantages, action_mask, *, <config kwargs>,
       token_weights=None, num_tokens=None, num_seqs=None) -> (scalar loss, detached stats)

All tensors are (B, T); only action tokens count. `token_weights` (B, T), detached, multiply each
token's surrogate loss before aggregation: the sampler/trainer mismatch correction
(`rlx.algos.rollout_correction`); the trainer passes it only when a correction is configured. With gradient accumulation the trainer calls
the loss once per micro-batch and passes the *mini-batch* `num_tokens` / `num_seqs` (see
`loss_normalizers`): the micro-batch losses then sum to the full mini-batch loss exactly.
"""

from __future__ import annotations

from typing import Literal, Protocol

import torch
from torch import Tensor

Aggregation = Literal["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"]
MAX_LOG_RATIO = 20.0  # exp(20) ~ 5e8: keeps a wild ratio finite in float32/bfloat16


class PolicyLossFn(Protocol):
    """A policy loss with its config kwargs bound (what `Objective.policy` holds)."""

    def __call__(
        self,
        logprobs: Tensor,
        old_logprobs: Tensor,
        advantages: Tensor,
        action_mask: Tensor,
        *,
        token_weights: Tensor | None = None,
        num_tokens: float | None = None,
        num_seqs: float | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]: ...


def loss_normalizers(action_mask: Tensor) -> tuple[float, float]:
    """(num_tokens, num_seqs) of a mini-batch: its action tokens and its sequences that have
    at least one action token. Pass them to every micro-batch's loss call."""
    tokens_per_seq = action_mask.float().sum(-1)
    return float(tokens_per_seq.sum()), float((tokens_per_seq > 0).sum())


def aggregate(
    loss_mat: Tensor,
    mask: Tensor,
    agg: Aggregation = "token_mean",
    norm_len: int | None = None,
    *,
    num_tokens: float | None = None,
    num_seqs: float | None = None,
) -> Tensor:
    """Reduce per-token losses (B, T) to a scalar over the masked tokens.

    token_mean               sum_{i,t} l_it / N_tokens                 DAPO, arXiv 2503.14476
    seq_mean_token_mean      (1/N_seqs) sum_i sum_t l_it / |o_i|       GRPO, arXiv 2402.03300
    seq_mean_token_sum_norm  (1/N_seqs) sum_i sum_t l_it / norm_len    Dr. GRPO, arXiv 2503.20783

    N_tokens / N_seqs default to this batch's action-token count and its number of sequences
    with at least one action token (an empty row neither contributes nor counts); pass the
    mini-batch totals when accumulating micro-batches. `norm_len` is a constant (default T of
    `mask`); pass it explicitly (e.g. the max response length) when micro-batches are padded
    to different T.
    """
    mask = mask.to(loss_mat.dtype)
    masked = torch.where(mask > 0, loss_mat, torch.zeros_like(loss_mat))
    if agg == "token_mean":
        denominator = mask.sum() if num_tokens is None else loss_mat.new_tensor(float(num_tokens))
        return masked.sum() / denominator.clamp(min=1)
    tokens_per_seq = mask.sum(-1)
    if agg == "seq_mean_token_mean":
        per_seq = masked.sum(-1) / tokens_per_seq.clamp(min=1)
    elif agg == "seq_mean_token_sum_norm":
        per_seq = masked.sum(-1) / float(mask.shape[-1] if norm_len is None else norm_len)
    else:
        raise ValueError(f"unknown aggregation {agg!r}; choose one of {Aggregation.__args__}")
    if num_seqs is None:
        denominator = (tokens_per_seq > 0).sum()
    else:
        denominator = loss_mat.new_tensor(float(num_seqs))
    return per_seq.sum() / denominator.clamp(min=1)


def ppo_clip(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    action_mask: Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip: float | None = None,
    agg: Aggregation = "token_mean",
    norm_len: int | None = None,
    token_weights: Tensor | None = None,
    num_tokens: float | None = None,
    num_seqs: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO clipped surrogate (Schulman et al., arXiv 1707.06347), per token.

    r = exp(logp - old_logp);  l = max(-A r, -A clip(r, 1 - clip_low, 1 + clip_high)).
    clip_high > clip_low is DAPO's clip-higher (arXiv 2503.14476, 0.2 / 0.28). `dual_clip`
    c > 1 bounds the loss at -A c where A < 0 (dual-clip PPO, Ye et al., arXiv 1912.09729).
    The log-ratio is clamped to +-20 before exp. Reduced with `aggregate(agg, norm_len)`.

    Returns (loss, stats): policy/clipfrac (tokens where the clip is active), split into
    policy/clipfrac_low (A < 0, r < 1 - clip_low) and policy/clipfrac_high (A > 0,
    r > 1 + clip_high), policy/dual_clipfrac, policy/approx_kl (k3 estimate of KL(old || new):
    mean of (r - 1) - log r), policy/ratio_mean; stats are masked means over this call's
    tokens, detached.
    """
    log_ratio = _masked_log_ratio(logprobs, old_logprobs, action_mask)
    return _clipped_objective(
        log_ratio, log_ratio, advantages, action_mask,
        clip_low, clip_high, dual_clip, agg, norm_len, num_tokens, num_seqs,
        token_weights=token_weights,
    )


def gspo(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    action_mask: Tensor,
    *,
    clip_low: float = 3e-4,
    clip_high: float = 4e-4,
    dual_clip: float | None = None,
    agg: Aggregation = "seq_mean_token_mean",
    norm_len: int | None = None,
    token_weights: Tensor | None = None,
    num_tokens: float | None = None,
    num_seqs: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Group Sequence Policy Optimization (GSPO, arXiv 2507.18071), token form.

    Sequence ratio s_i = exp(mean_{t in o_i} (logp - old_logp)), clipped as in `ppo_clip`
    with the paper's tiny ranges (3e-4 / 4e-4). Written as GSPO-token: every token carries
    the value s_i and the gradient s_i * grad logp_t, so with advantages constant over a
    sequence and agg="seq_mean_token_mean" this equals the sequence-level GSPO loss, and it
    also accepts token-level advantages. Same stats as `ppo_clip` (ratios are s_i).
    """
    log_ratio = _masked_log_ratio(logprobs, old_logprobs, action_mask)
    tokens = action_mask.to(log_ratio.dtype).sum(-1).clamp(min=1)
    seq_log_ratio = (log_ratio.sum(-1) / tokens)[:, None].expand_as(log_ratio)
    token_form = seq_log_ratio.detach() + logprobs - logprobs.detach()
    token_form = torch.where(action_mask.bool(), token_form, torch.zeros_like(token_form))
    return _clipped_objective(
        token_form, seq_log_ratio, advantages, action_mask,
        clip_low, clip_high, dual_clip, agg, norm_len, num_tokens, num_seqs,
        token_weights=token_weights,
    )


def _masked_log_ratio(logprobs: Tensor, old_logprobs: Tensor, action_mask: Tensor) -> Tensor:
    diff = (logprobs - old_logprobs).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    return torch.where(action_mask.bool(), diff, torch.zeros_like(diff))


def _clipped_objective(
    log_ratio: Tensor,
    stats_log_ratio: Tensor,
    advantages: Tensor,
    action_mask: Tensor,
    clip_low: float,
    clip_high: float,
    dual_clip: float | None,
    agg: Aggregation,
    norm_len: int | None,
    num_tokens: float | None,
    num_seqs: float | None,
    token_penalty: Tensor | None = None,
    token_weights: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The clipped surrogate on a (B, T) log-ratio, aggregated, plus its stats.
    `token_weights` (B, T), if given, multiply the per-token surrogate (the policy-gradient term;
    a mismatch-correction weight); `token_penalty` (B, T), if given, is then added to the
    per-token loss before aggregation."""
    if dual_clip is not None and dual_clip <= 1.0:
        raise ValueError(f"dual_clip must be > 1 (got {dual_clip})")
    ratio = torch.exp(log_ratio)
    advantages = advantages.detach()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    loss_mat = torch.maximum(unclipped, clipped)
    is_clipped = clipped > unclipped
    is_dual_clipped = torch.zeros_like(is_clipped)
    if dual_clip is not None:
        bound = -advantages * dual_clip
        is_dual_clipped = (advantages < 0) & (loss_mat > bound)
        loss_mat = torch.where(is_dual_clipped, bound, loss_mat)
    if token_weights is not None:
        loss_mat = loss_mat * token_weights.detach().to(loss_mat.dtype)
    if token_penalty is not None:
        loss_mat = loss_mat + token_penalty
    loss = aggregate(loss_mat, action_mask, agg, norm_len, num_tokens=num_tokens, num_seqs=num_seqs)
    with torch.no_grad():
        mask = action_mask.to(log_ratio.dtype)
        stat_ratio = torch.exp(stats_log_ratio)
        stats = {
            "policy/clipfrac": _masked_mean(is_clipped.to(mask.dtype), mask),
            "policy/clipfrac_low": _masked_mean((is_clipped & (advantages < 0)).to(mask.dtype), mask),
            "policy/clipfrac_high": _masked_mean((is_clipped & (advantages > 0)).to(mask.dtype), mask),
            "policy/dual_clipfrac": _masked_mean(is_dual_clipped.to(mask.dtype), mask),
            "policy/approx_kl": _masked_mean(stat_ratio - 1.0 - stats_log_ratio, mask),
            "policy/ratio_mean": _masked_mean(stat_ratio, mask),
        }
    return loss, stats


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)
