"""A scalar value head on the policy's last hidden state, for PPO with GAE."""

from __future__ import annotations

import torch
from torch import nn


class ValueHead(nn.Module):
    """V(s_t) = w . h_t + b from the last hidden state h_t of the language model.

    Zero-initialised, so every value starts at 0 and the first GAE advantages equal the
    discounted returns. Kept in float32 whatever the model dtype (hidden states are cast).

    forward: hidden (B, T, H) -> values (B, T) float32.
    """

    def __init__(self, hidden_size: int):
        super().__init__()
        self.linear = nn.Linear(hidden_size, 1, dtype=torch.float32)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden.to(self.linear.weight.dtype)).squeeze(-1)
