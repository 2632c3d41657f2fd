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
    """Lay out prompt + response rows: prompts left-padded, responses right-padded.

    With P = the longest prompt and R = the longest response in the batch, T = P + R
    (no wider), and every response starts at column P:

        [pad pad p p p | r r r eos pad]
        [pad p p p p   | r r r r   r  ]

    Returns (input_ids (B, T) long, attention_mask (B, T) long: 1 on prompt and response
    tokens, action_mask (B, T) bool: True on response tokens, the final eos included).
    Padding positions hold `pad_id`; only the masks say what is padding.
    """
    if not generations:
        raise ValueError("pack_sequences needs at least one generation")
    prompt_width = max(len(g.prompt_ids) for g in generations)
    response_width = max(len(g.response_ids) for g in generations)
    batch, width = len(generations), prompt_width + response_width
    input_ids = torch.full((batch, width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((batch, width), dtype=torch.long)
    action_mask = torch.zeros((batch, width), dtype=torch.bool)
    for row, g in enumerate(generations):
        start, end = prompt_width - len(g.prompt_ids), prompt_width + len(g.response_ids)
        input_ids[row, start:prompt_width] = torch.tensor(g.prompt_ids, dtype=torch.long)
        input_ids[row, prompt_width:end] = torch.tensor(g.response_ids, dtype=torch.long)
        attention_mask[row, start:end] = 1
        action_mask[row, prompt_width:end] = True
    if device is not None:
        return input_ids.to(device), attention_mask.to(device), action_mask.to(device)
    return input_ids, attention_mask, action_mask
