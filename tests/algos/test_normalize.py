import statistics

import pytest
import torch

from rlx.algos.normalize import normalize

SCORES = torch.tensor([1.0, 0.0, 1.0, 0.0, 5.0], dtype=torch.float64)
GROUPS = torch.tensor([7, 7, 7, 7, 3])  # group 7: {1, 0, 1, 0}; group 3: {5} (a group of one)
# group 7: mean 0.5, unbiased var 4 * 0.25 / 3 = 1/3, std 0.5773503
# batch:   mean 7/5 = 1.4, squared deviations .16 + 1.96 + .16 + 1.96 + 12.96 = 17.2, var 17.2/4 = 4.3
STD_G, STD_B = (1 / 3) ** 0.5, 4.3**0.5


@pytest.mark.parametrize(
    "mean, std, expected",
    [
        ("group", "group", [0.5 / STD_G, -0.5 / STD_G, 0.5 / STD_G, -0.5 / STD_G, 0.0]),
        ("group", "none", [0.5, -0.5, 0.5, -0.5, 0.0]),
        ("group", "batch", [0.5 / STD_B, -0.5 / STD_B, 0.5 / STD_B, -0.5 / STD_B, 0.0]),
        ("batch", "batch", [(v - 1.4) / STD_B for v in [1.0, 0.0, 1.0, 0.0, 5.0]]),
        ("batch", "none", [-0.4, -1.4, -0.4, -1.4, 3.6]),
        ("batch", "group", [-0.4 / STD_G, -1.4 / STD_G, -0.4 / STD_G, -1.4 / STD_G, 3.6 / 1e-6]),
        ("none", "none", [1.0, 0.0, 1.0, 0.0, 5.0]),
        ("none", "batch", [1 / STD_B, 0.0, 1 / STD_B, 0.0, 5 / STD_B]),
    ],
)
def test_every_choice_on_scores(mean, std, expected):
    out = normalize(SCORES, None, GROUPS, mean=mean, std=std, eps=0.0 if std != "group" else 1e-6)
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64), rtol=1e-5, atol=1e-9)


def test_group_of_one_and_all_equal_give_zero_without_nan():
    scores = torch.tensor([3.0, 3.0, 3.0, -2.0])
    out = normalize(scores, None, torch.tensor([1, 1, 1, 9]), mean="group", std="group", eps=1e-6)
    assert torch.equal(out, torch.zeros(4))


def test_masked_scores_are_zero_and_do_not_count():
    # the masked-out 100 is ignored: group {1, 3} mean 2, unbiased std sqrt(2)
    out = normalize(torch.tensor([1.0, 3.0, 100.0]), torch.tensor([True, True, False]),
                    torch.tensor([0, 0, 0]), mean="group", std="group", eps=0.0)
    torch.testing.assert_close(out, torch.tensor([-(0.5**0.5), 0.5**0.5, 0.0]))


def test_token_level_statistics_are_over_masked_tokens_of_the_group():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # masked tokens 1, 2, 4: mean 7/3; deviations -4/3, -1/3, 5/3 -> 42/9 / 2 = 7/3 variance
    s = (7 / 3) ** 0.5
    out = normalize(x, mask, torch.tensor([4, 4]), mean="group", std="group", eps=0.0)
    expected = torch.tensor([[(1 - 7 / 3) / s, (2 - 7 / 3) / s, 0.0], [(4 - 7 / 3) / s, 0.0, 0.0]])
    torch.testing.assert_close(out, expected)


def test_group_choice_needs_group_ids():
    with pytest.raises(ValueError, match="group_ids"):
        normalize(SCORES, None, None, mean="group", std="none")


def normalize_loop(x, mask, group_ids, mean, std, eps):
    """Obviously-correct reference: gather each entry's scope with Python loops."""
    B = x.shape[0]
    x2 = x.reshape(B, -1).tolist()
    m2 = mask.reshape(B, -1).tolist()
    ids = group_ids.tolist()

    def members(b, scope):
        rows = [r for r in range(B) if scope == "batch" or ids[r] == ids[b]]
        return [x2[r][t] for r in rows for t in range(len(x2[r])) if m2[r][t]]

    out = [[0.0] * len(x2[0]) for _ in range(B)]
    for b in range(B):
        for t in range(len(x2[b])):
            if not m2[b][t]:
                continue
            value = x2[b][t]
            if mean != "none":
                value -= statistics.fmean(members(b, mean))
            if std != "none":
                vals = members(b, std)
                value /= (statistics.stdev(vals) if len(vals) > 1 else 0.0) + eps
            out[b][t] = value
    return torch.tensor(out, dtype=torch.float64).reshape(x.shape)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(1, 5), (6, 1), (9, 7)])
@pytest.mark.parametrize("mean", ["group", "batch", "none"])
@pytest.mark.parametrize("std", ["group", "batch", "none"])
def test_matches_loop_reference(make_batch, seed, shape, mean, std):
    batch = make_batch(*shape, seed)
    x, mask, ids = batch["rewards"], batch["action_mask"], batch["group_ids"]
    got = normalize(x, mask, ids, mean=mean, std=std, eps=1e-3)
    torch.testing.assert_close(got, normalize_loop(x, mask, ids, mean, std, 1e-3))
    scores = x[:, 0]  # the (B,) form, every row counting
    got = normalize(scores, None, ids, mean=mean, std=std, eps=1e-3)
    ones = torch.ones_like(scores, dtype=torch.bool)
    torch.testing.assert_close(got, normalize_loop(scores, ones, ids, mean, std, 1e-3))
