"""The training objective: policy loss + optional KL to a reference, entropy bonus, value loss.

One conf/loss/*.yaml node instantiates one `Objective`; `policy` is a partial of a function in
`rlx.algos.losses` with its clip/aggregation settings bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from rlx.algos.kl import KLEstimator, kl_penalty, value_loss
from rlx.algos.losses import aggregate


@dataclass(frozen=True)
class Objective:
    """What the trainer minimises, per micro-batch.

    loss = policy - entropy_coef * H + kl_coef * KL (if kl_in="loss") + value_coef * value_loss

    policy: a policy loss (`ppo_clip`, `gspo`, ...) with its kwargs bound.
    kl_coef: weight of KL(pi || pi_ref); 0 = no reference model needed.
    kl_estimator: k1 | k2 | k3 (see `kl_penalty`).
    kl_in: "loss" adds the KL term to the loss (GRPO); "reward" makes the trainer subtract
        `reward_kl(...)` from the token rewards before the advantages (PPO / REINFORCE++).
    entropy_coef: weight of the entropy bonus (token mean of the policy entropy).
    value_coef / value_clip: critic loss weight and clip range (used when values are given).
    The KL, entropy and value terms are token means over action tokens.
    """

    policy: Callable[..., tuple[Tensor, dict[str, Tensor]]]
    kl_coef: float = 0.0
    kl_estimator: KLEstimator = "k3"
    kl_in: Literal["loss", "reward"] = "loss"
    entropy_coef: float = 0.0
    value_coef: float = 0.5
    value_clip: float | None = 0.2

    def __post_init__(self) -> None:
        if self.kl_coef < 0 or self.value_coef < 0:
            raise ValueError("kl_coef and value_coef must be >= 0")
        if self.value_clip is not None and self.value_clip <= 0:
            raise ValueError(f"value_clip must be > 0 or null (got {self.value_clip})")

    @property
    def needs_reference(self) -> bool:
        """Whether reference-model log-probs must be computed."""
        return self.kl_coef > 0

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
        num_tokens: float | None = None,
        num_seqs: float | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Scalar loss and detached stats for one micro-batch; all tensors (B, T).

        `num_tokens` / `num_seqs`: the mini-batch totals (`loss_normalizers`) when accumulating
        gradients, so that micro-batch losses sum to the mini-batch loss.

        Stats (detached scalars): loss/policy, loss/kl (the KL value, logged whenever
        ref_logprobs is given), loss/entropy (the entropy value), loss/value, loss/total, and
        the policy/* and value/* stats of the policy and value losses. Every stat is this call's
        *share* of the mini-batch value: summed over the micro-batches of a mini-batch it gives
        the mini-batch value exactly (policy/* and value/* means are weighted by the call's
        action tokens / num_tokens). Without num_tokens a stat is the call's own value.
        """
        total, means = self.policy(
            logprobs, old_logprobs, advantages, action_mask,
            num_tokens=num_tokens, num_seqs=num_seqs,
        )
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
        elif self.entropy_coef != 0:
            raise ValueError("entropy_coef != 0 needs the per-token entropy")

        if values is not None:
            if returns is None or (self.value_clip is not None and old_values is None):
                raise ValueError("a value loss needs returns (and old_values if value_clip is set)")
            critic, value_means = value_loss(
                values, returns, old_values, action_mask, self.value_clip, num_tokens=num_tokens
            )
            terms["loss/value"] = critic.detach()
            means.update(value_means)
            total = total + self.value_coef * critic

        terms["loss/total"] = total.detach()
        # policy/* and value/* are means over this call's tokens -> its share of the mini-batch mean
        share = 1.0
        if num_tokens is not None:
            share = action_mask.to(total.dtype).sum() / max(float(num_tokens), 1.0)
        return total, {**terms, **{name: value * share for name, value in means.items()}}

    def reward_kl(
        self, logprobs_old: Tensor, ref_logprobs: Tensor, action_mask: Tensor | None = None
    ) -> Tensor:
        """Per-token penalty kl_coef * KL (B, T) that the trainer subtracts from the rewards when
        kl_in="reward" (0 when kl_in="loss"); detached, 0 off `action_mask` if given."""
        if self.kl_in != "reward" or self.kl_coef == 0:
            return torch.zeros_like(logprobs_old)
        penalty = self.kl_coef * kl_penalty(logprobs_old, ref_logprobs, self.kl_estimator).detach()
        return penalty if action_mask is None else penalty * action_mask.to(penalty.dtype)
