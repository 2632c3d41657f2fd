"""Value heads on the policy's last hidden state, for PPO with GAE (one head) and HiPER's
hierarchical critic (two heads on the shared backbone: executor and planner values)."""

from __future__ import annotations

import torch
from torch import nn


class ValueHead(nn.Module):
    """V(s_t) = w . h_t + b from the last hidden state h_t of the language model.

    heads: how many values per token. 1 (PPO/GAE): forward gives (B, T). H > 1 (HiPER's
    Hierarchical Advantage Estimation, arXiv 2602.16165: head 0 the executor's V_lo, head 1
    the planner's V_hi, both on the policy's shared backbone): forward gives (B, T, H).

    Zero-initialised, so every value starts at 0 and the first GAE advantages equal the
    discounted returns. Kept in float32 whatever the model dtype (hidden states are cast).

    forward: hidden (B, T, H_model) -> values (B, T) float32, or (B, T, heads) when heads > 1.
    """

    def __init__(self, hidden_size: int, heads: int = 1):
        super().__init__()
        if heads < 1:
            raise ValueError(f"ValueHead: heads must be >= 1 (got {heads})")
        self.heads = heads
        self.linear = nn.Linear(hidden_size, heads, dtype=torch.float32)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out = self.linear(hidden.to(self.linear.weight.dtype))
        return out.squeeze(-1) if self.heads == 1 else out
