"""Policy entropy from logits, meant to be called per chunk of tokens."""

from __future__ import annotations

import torch
from torch import Tensor


def entropy_from_logits(logits: Tensor) -> Tensor:
    """H = logsumexp(z) - sum_v softmax(z)_v z_v, over the last (vocabulary) axis.

    logits (..., V), e.g. (B, T, V) -> (B, T), in float32 (upcast inside). Call it on the same
    token chunks as the log-prob computation so a full (B, T, V) float32 tensor is never built;
    it is differentiable (for an entropy bonus).
    """
    logits = logits.float()
    log_norm = torch.logsumexp(logits, dim=-1)
    probs = torch.softmax(logits, dim=-1)
    weighted = torch.where(probs > 0, probs * logits, torch.zeros_like(logits))  # -inf logits add 0
    return log_norm - weighted.sum(-1)
