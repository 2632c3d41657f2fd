"""Random rollout batches for the algos tests (float64 so loop references compare tightly)."""

import pytest
import torch

GROUP_ID_POOL = torch.tensor([17, -3, 1000, 5])  # arbitrary, not 0..n-1


def random_batch(batch: int, tokens: int, seed: int) -> dict[str, torch.Tensor]:
    """rewards/values (B, T) float64, a ragged action_mask (some rows empty, some gaps), group_ids."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(batch, tokens, generator=gen) < 0.7
    if batch > 2:
        mask[0] = False  # a zero-length response
    return {
        "rewards": torch.randn(batch, tokens, generator=gen, dtype=torch.float64),
        "action_mask": mask,
        "group_ids": GROUP_ID_POOL[torch.randint(0, 4, (batch,), generator=gen)],
        "values": torch.randn(batch, tokens, generator=gen, dtype=torch.float64),
    }


@pytest.fixture
def make_batch():
    return random_batch
