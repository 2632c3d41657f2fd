"""Turn generations into the (B, T) tensors the log-prob forward and the losses use."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rlx.rollout.base import Generation


def pack_sequences(
    generations: Sequence[Generation],
    pad_id: int,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lay out prompt + response rows, each starting at column 0 and right-padded.

    T = the longest prompt + response in the batch (no wider):

        [p p p r r r eos pad pad]
        [p p p p p r r   r   r  ]

    Right padding (not the left padding generation uses) keeps every padding position
    after real tokens, so under the causal mask each padding query still attends to a
    real key: no fully masked attention rows, whose softmax is NaN in some fused CUDA
    kernels and then turns gradients NaN even where the loss masks them out.

    Returns (input_ids (B, T) long, attention_mask (B, T) long: 1 on prompt and response
    tokens, action_mask (B, T) bool: True on response tokens, the final eos included).
    Padding positions hold `pad_id`; only the masks say what is padding.
    """
    if not generations:
        raise ValueError("pack_sequences needs at least one generation")
    batch = len(generations)
    width = max(len(g.prompt_ids) + len(g.response_ids) for g in generations)
    input_ids = torch.full((batch, width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((batch, width), dtype=torch.long)
    action_mask = torch.zeros((batch, width), dtype=torch.bool)
    for row, g in enumerate(generations):
        prompt, end = len(g.prompt_ids), len(g.prompt_ids) + len(g.response_ids)
        input_ids[row, :end] = torch.tensor([*g.prompt_ids, *g.response_ids], dtype=torch.long)
        attention_mask[row, :end] = 1
        action_mask[row, prompt:end] = True
    if device is not None:
        return input_ids.to(device), attention_mask.to(device), action_mask.to(device)
    return input_ids, attention_mask, action_mask
