"""The training objective: policy loss + optional KL to a reference, entropy bonus, value loss.

One conf/loss/*.yaml node instantiates one `Objective`; `policy` is a partial of a function in
`rlx.algos.losses` with its clip/aggregation settings bound.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from rlx.algos.entropy_smoothing import EntropySmoothing
from rlx.algos.kl import KLEstimator, kl_penalty, value_loss
from rlx.algos.losses import _masked_mean, aggregate
from rlx.algos.rollout_correction import (CorrectionLevel, CorrectionMode, correction_weights,
                                          mismatch_metrics)


@dataclass(frozen=True)
class Objective:
    """What the trainer minimises, per micro-batch.

    loss = policy - entropy_coef * (H - w P) + kl_coef * KL (if kl_in="loss") + value_coef * value_loss

    policy: a policy loss (`ppo_clip`, `gspo`, ...) with its kwargs bound.
    kl_coef: weight of KL(pi || pi_ref); 0 = no reference model needed.
    kl_estimator: k1 | k2 | k3 (see `kl_penalty`).
    kl_in: "loss" adds the KL term to the loss (GRPO); "reward" makes the trainer subtract
        `reward_kl(...)` from the token rewards before the advantages (PPO / REINFORCE++).
    entropy_coef: weight of the entropy bonus (token mean of the policy entropy).
    smoothing: EPO's entropy smoothing (`EntropySmoothing`, arXiv 2509.22576): P is the token
        mean of the penalty for entropy outside a band around its per-turn history `entropy_ref`,
        w = smoothing.weight (its phase schedule; the trainer passes `scheduled(progress)`).
        Needs entropy_coef > 0.
    value_coef / value_clip: critic loss weight and clip range (used when values are given).
    rollout_correction: none | tis | mis, the sampler/trainer mismatch correction
        (`rlx.algos.rollout_correction`): each token's policy-gradient term is multiplied by a
        detached weight from rho = exp(old_logp - sampler_logp): tis = truncated IS,
        min(rho, high); mis = masked IS, rho inside [low, high] and 0 outside.
        rollout_correction_level: token | sequence (tis: the sequence's product of ratios,
        truncated; mis: keep or drop whole sequences by the geometric mean of their ratios).
        rollout_correction_high: C (default 2); rollout_correction_low: MIS lower bound
        (null = 1/C). Needs the sampler's log-probs (an engine that reports them, rollout=vllm);
        the launcher refuses a correction with an engine that does not.
    The KL, entropy and value terms are token means over action tokens.
    """

    policy: Callable[..., tuple[Tensor, dict[str, Tensor]]]
    kl_coef: float = 0.0
    kl_estimator: KLEstimator = "k3"
    kl_in: Literal["loss", "reward"] = "loss"
    entropy_coef: float = 0.0
    value_coef: float = 0.5
    value_clip: float | None = 0.2
    smoothing: EntropySmoothing | None = None
    rollout_correction: CorrectionMode = "none"
    rollout_correction_level: CorrectionLevel = "token"
    rollout_correction_high: float = 2.0
    rollout_correction_low: float | None = None

    def __post_init__(self) -> None:
        if self.kl_coef < 0 or self.value_coef < 0:
            raise ValueError("kl_coef and value_coef must be >= 0")
        if self.smoothing is not None and self.entropy_coef <= 0:
            raise ValueError("loss.smoothing (EPO) scales its penalty by loss.entropy_coef: "
                             f"set loss.entropy_coef > 0 (got {self.entropy_coef})")
        if self.value_clip is not None and self.value_clip <= 0:
            raise ValueError(f"value_clip must be > 0 or null (got {self.value_clip})")
        low, high = self.rollout_correction_low, self.rollout_correction_high
        if high <= 0 or (low is not None and not 0 <= low <= high):
            raise ValueError("loss.rollout_correction_high must be > 0 and "
                             f"0 <= loss.rollout_correction_low <= high (got low={low}, high={high})")

    @property
    def needs_reference(self) -> bool:
        """Whether reference-model log-probs must be computed."""
        return self.kl_coef > 0

    def scheduled(self, progress: float) -> "Objective":
        """This objective at training progress `progress` in [0, 1] (EPO's phase weight)."""
        if self.smoothing is None:
            return self
        return dataclasses.replace(self, smoothing=self.smoothing.at(progress))

    def __call__(
        self,
        logprobs: Tensor,
        old_logprobs: Tensor,
        advantages: Tensor,
        action_mask: Tensor,
        *,
        ref_logprobs: Tensor | None = None,
        entropy: Tensor | None = None,
        values: Tensor | None = None,
        old_values: Tensor | None = None,
        returns: Tensor | None = None,
        entropy_ref: Tensor | None = None,
        sampler_logprobs: Tensor | None = None,
        num_tokens: float | None = None,
        num_seqs: float | None = None,
        value_mask: Tensor | None = None,
        num_value_tokens: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Scalar loss and detached stats for one micro-batch; all tensors (B, T).
        `entropy_ref`: each action token's historical entropy Hbar (needed with `smoothing`).
        `sampler_logprobs`: the sampler's log-probs of the action tokens (None when the engine
        reports none); with them the stats include rollout/logprob_abs_diff and
        rollout/mismatch_kl (old_logprobs vs the sampler), and the correction's rollout/is_*.

        `num_tokens` / `num_seqs`: the mini-batch totals (`loss_normalizers`) when accumulating
        gradients, so that micro-batch losses sum to the mini-batch loss.

        Stats (detached scalars): loss/policy, loss/kl (the KL value, logged whenever
        ref_logprobs is given), loss/entropy (the entropy value), loss/entropy_smoothing (P) and
        policy/entropy_out_of_band (share of tokens outside the band), loss/value, loss/total, and
        the policy/* and value/* stats of the policy and value losses. Every stat is this call's
        *share* of the mini-batch value: summed over the micro-batches of a mini-batch it gives
        the mini-batch value exactly (policy/* and value/* means are weighted by the call's
        action tokens / num_tokens). Without num_tokens a stat is the call's own value.

        Several value heads (values, old_values, returns (B, T, H), HiPER's two-head critic):
        head h is trained on the tokens of `value_mask[..., h]` (B, T, H) bool, each head's
        loss a token mean over its own tokens (`num_value_tokens` (H,): the mini-batch counts)
        and the heads' losses summed; stats value/* for head 0, value/head<h>_* for the others.
        """
        weights, seq_means, means = None, {}, {}
        if sampler_logprobs is not None:
            means.update(mismatch_metrics(old_logprobs, sampler_logprobs, action_mask))
            if self.rollout_correction != "none":
                weights, token_stats, seq_means = correction_weights(
                    old_logprobs, sampler_logprobs, action_mask, mode=self.rollout_correction,
                    level=self.rollout_correction_level, high=self.rollout_correction_high,
                    low=self.rollout_correction_low)
                means.update(token_stats)
        elif self.rollout_correction != "none":
            raise ValueError(f"loss.rollout_correction={self.rollout_correction} needs the sampler's "
                             "log-probs; this engine reports none (use rollout=vllm)")
        extra = {} if weights is None else {"token_weights": weights}
        total, policy_means = self.policy(
            logprobs, old_logprobs, advantages, action_mask,
            num_tokens=num_tokens, num_seqs=num_seqs, **extra,
        )
        means.update(policy_means)
        terms = {"loss/policy": total.detach()}  # already shares of the mini-batch value

        def token_mean(per_token: Tensor) -> Tensor:
            return aggregate(per_token, action_mask, "token_mean", num_tokens=num_tokens)

        kl_in_loss = self.kl_in == "loss" and self.kl_coef > 0
        if ref_logprobs is not None:
            kl = token_mean(kl_penalty(logprobs, ref_logprobs, self.kl_estimator))
            terms["loss/kl"] = kl.detach()
            if kl_in_loss:
                total = total + self.kl_coef * kl
        elif kl_in_loss:
            raise ValueError("kl_coef > 0 with kl_in='loss' needs ref_logprobs")

        if entropy is not None:
            mean_entropy = token_mean(entropy)
            terms["loss/entropy"] = mean_entropy.detach()
            total = total - self.entropy_coef * mean_entropy
            if self.smoothing is not None:
                if entropy_ref is None:
                    raise ValueError("loss.smoothing (EPO) needs entropy_ref, the per-token history")
                per_token = self.smoothing.penalty(entropy, entropy_ref.to(entropy.dtype))
                penalty = token_mean(per_token)
                terms["loss/entropy_smoothing"] = penalty.detach()
                total = total + self.entropy_coef * self.smoothing.weight * penalty
                mask = action_mask.to(entropy.dtype)
                means["policy/entropy_out_of_band"] = _masked_mean((per_token > 0).to(mask.dtype), mask)
        elif self.entropy_coef != 0:
            raise ValueError("entropy_coef != 0 needs the per-token entropy")

        if values is not None:
            if returns is None or (self.value_clip is not None and old_values is None):
                raise ValueError("a value loss needs returns (and old_values if value_clip is set)")
            if values.dim() == 2:
                critic, value_means = value_loss(
                    values, returns, old_values, action_mask, self.value_clip, num_tokens=num_tokens
                )
            else:
                critic, value_means = self._head_losses(values, returns, old_values, value_mask,
                                                        num_value_tokens)
            terms["loss/value"] = critic.detach()
            means.update(value_means)
            total = total + self.value_coef * critic

        terms["loss/total"] = total.detach()
        # policy/* and value/* are means over this call's tokens -> its share of the mini-batch mean
        share = seq_share = 1.0
        if num_tokens is not None:
            share = action_mask.to(total.dtype).sum() / max(float(num_tokens), 1.0)
        if num_seqs is not None:  # sequence fractions: this call's share of the sequences
            seq_share = (action_mask.sum(-1) > 0).to(total.dtype).sum() / max(float(num_seqs), 1.0)
        return total, {**terms, **{name: value * share for name, value in means.items()},
                       **{name: value * seq_share for name, value in seq_means.items()}}

    def _head_losses(self, values: Tensor, returns: Tensor, old_values: Tensor | None,
                     value_mask: Tensor | None, num_value_tokens: Tensor | None,
                     ) -> tuple[Tensor, dict[str, Tensor]]:
        """Sum over heads of each head's clipped value loss on its own tokens. (B, T, H) inputs."""
        if value_mask is None or value_mask.shape != values.shape:
            raise ValueError("several value heads need value_mask (B, T, H): the tokens each "
                             f"head is trained on (values {tuple(values.shape)})")
        total, stats = values.new_zeros(()), {}
        for h in range(values.shape[-1]):
            count = None if num_value_tokens is None else float(num_value_tokens[h])
            loss, means = value_loss(values[..., h], returns[..., h],
                                     None if old_values is None else old_values[..., h],
                                     value_mask[..., h], self.value_clip, num_tokens=count)
            total = total + loss
            stats.update({name if h == 0 else name.replace("value/", f"value/head{h}_"): v
                          for name, v in means.items()})
        return total, stats

    def reward_kl(
        self, logprobs_old: Tensor, ref_logprobs: Tensor, action_mask: Tensor | None = None
    ) -> Tensor:
        """Per-token penalty kl_coef * KL (B, T) that the trainer subtracts from the rewards when
        kl_in="reward" (0 when kl_in="loss"); detached, 0 off `action_mask` if given."""
        if self.kl_in != "reward" or self.kl_coef == 0:
            return torch.zeros_like(logprobs_old)
        penalty = self.kl_coef * kl_penalty(logprobs_old, ref_logprobs, self.kl_estimator).detach()
        return penalty if action_mask is None else penalty * action_mask.to(penalty.dtype)
