"""Episode bookkeeping helpers (rlx.algos.episodes)."""

import torch

from rlx.algos.episodes import pair_index


def test_pair_index_numbers_pairs_in_sorted_order():
    first = torch.tensor([5, -2, 5, 5, -2])
    second = torch.tensor([7, 7, 1, 7, 2 ** 62])
    index, n = pair_index(first, second)
    # sorted pairs: (-2, 7) 0, (-2, 2^62) 1, (5, 1) 2, (5, 7) 3
    assert index.tolist() == [3, 0, 2, 3, 1] and n == 4
    assert pair_index(first[:0], second[:0])[1] == 0


def test_pair_index_matches_unique_over_stacked_pairs():
    gen = torch.Generator().manual_seed(0)
    for trial in range(10):
        first = torch.randint(-4, 4, (200,), generator=gen) * 2 ** 40
        high = 2 ** 62 if trial % 2 else 5  # hashed 64-bit ids, or a few small ones
        second = torch.randint(-high, high, (200,), generator=gen)
        want = torch.unique(torch.stack([first, second], -1), dim=0, return_inverse=True)[1]
        index, n = pair_index(first, second)
        assert torch.equal(index, want) and n == int(want.max()) + 1
