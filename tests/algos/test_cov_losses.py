"""Clip-Cov and KL-Cov on hand-computed tensors: which tokens are selected, loss values, and
where the gradient is zero; plus the low/high clip fractions every clipped loss reports."""

import math

import pytest
import torch

from rlx.algos.cov_losses import clip_cov, kl_cov, token_covariance
from rlx.algos.losses import ppo_clip

# logp mean -2, A mean 0.25: cov = (A - 0.25)(logp + 2)
LOGP = [[-0.5, -1.5], [-2.5, -3.5]]
ADV = torch.tensor([[3.0, 1.0], [-1.0, -2.0]], dtype=torch.float64)
COV = [[2.75 * 1.5, 0.75 * 0.5], [-1.25 * -0.5, -2.25 * -1.5]]  # 4.125 0.375 / 0.625 3.375
MASK = torch.ones(2, 2, dtype=torch.bool)


def logprobs():
    return torch.tensor(LOGP, dtype=torch.float64, requires_grad=True)


def test_token_covariance_by_hand():
    cov = token_covariance(logprobs(), ADV, MASK)
    torch.testing.assert_close(cov, torch.tensor(COV, dtype=torch.float64))
    # masked tokens neither count in the means nor get a value
    wide = torch.tensor([[-0.5, -1.5, 9.0], [-2.5, -3.5, 9.0]], dtype=torch.float64)
    adv = torch.cat([ADV, torch.full((2, 1), 7.0, dtype=torch.float64)], 1)
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]], dtype=torch.bool)
    cov = token_covariance(wide, adv, mask)
    torch.testing.assert_close(cov[:, :2], torch.tensor(COV, dtype=torch.float64))
    assert cov[:, 2].tolist() == [0.0, 0.0]


def test_clip_cov_detaches_the_band_tokens():
    # ratio 1 everywhere: no PPO clipping; band (1, 5) holds (0,0) 4.125 and (1,1) 3.375;
    # cov_fraction 0.5 of 4 tokens = 2 -> both detached
    logp = logprobs()
    loss, stats = clip_cov(logp, logp.detach(), ADV, MASK, cov_fraction=0.5)
    assert loss.item() == pytest.approx(-(3 + 1 - 1 - 2) / 4)  # the value is PPO's
    loss.backward()
    # d(-A r)/dlogp / N at r = 1: -A/4; detached tokens 0
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, -0.25], [0.25, 0.0]], dtype=torch.float64))
    assert stats["policy/cov_clipfrac"].item() == pytest.approx(0.5)
    assert stats["policy/clipfrac"].item() == 0.0


def test_clip_cov_skips_tokens_the_ppo_clip_already_clipped():
    logp = logprobs()
    old = logp.detach().clone()
    old[0, 0] -= math.log(1.5)  # r = 1.5 with A = 3 > 0: clipped at 1.2, no gradient anyway
    loss, stats = clip_cov(logp, old, ADV, MASK, cov_fraction=0.5)
    loss.backward()
    # only (1,1) is a candidate; 2 requested, 1 available
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, -0.25], [0.25, 0.0]], dtype=torch.float64))
    assert stats["policy/cov_clipfrac"].item() == pytest.approx(0.25)
    assert stats["policy/clipfrac_high"].item() == pytest.approx(0.25)
    assert stats["policy/clipfrac_low"].item() == 0.0
    assert loss.item() == pytest.approx((-3 * 1.2 - 1 + 1 + 2) / 4)


def test_clip_cov_band_bounds_and_random_choice():
    logp = logprobs()
    # cov_high 4: (0,0) 4.125 is out of the band, only (1,1) is left
    loss, _ = clip_cov(logp, logp.detach(), ADV, MASK, cov_fraction=0.5, cov_high=4.0)
    loss.backward()
    assert logp.grad[0, 0].item() == pytest.approx(-0.75) and logp.grad[1, 1].item() == 0.0
    # at least one token: 2e-4 x 4 rounds down to 0 -> 1, drawn at random from the two
    chosen = set()
    for seed in range(20):
        logp = logprobs()
        loss, stats = clip_cov(logp, logp.detach(), ADV, MASK, cov_fraction=2e-4,
                               generator=torch.Generator().manual_seed(seed))
        loss.backward()
        zero = {(i, j) for i in range(2) for j in range(2) if logp.grad[i, j] == 0}
        assert len(zero) == 1 and zero <= {(0, 0), (1, 1)}
        assert stats["policy/cov_clipfrac"].item() == pytest.approx(0.25)
        chosen |= zero
    assert chosen == {(0, 0), (1, 1)}


def test_clip_cov_same_generator_same_choice_and_empty_batch():
    def grads(seed):
        logp = logprobs()
        clip_cov(logp, logp.detach(), ADV, MASK, generator=torch.Generator().manual_seed(seed))[0].backward()
        return logp.grad

    assert torch.equal(grads(3), grads(3))
    logp = logprobs()
    loss, stats = clip_cov(logp, logp.detach(), ADV, torch.zeros_like(MASK))
    assert loss.item() == 0.0 and stats["policy/cov_clipfrac"].item() == 0.0


def test_kl_cov_penalises_the_top_covariance_tokens():
    logp = logprobs()
    log_ratio = torch.tensor([[0.1, 0.2], [-0.1, 0.3]], dtype=torch.float64)
    old = logp.detach() - log_ratio
    # kl_fraction 0.25 of 4 tokens -> 1 token: the largest covariance, (0,0)
    loss, stats = kl_cov(logp, old, ADV, MASK, kl_fraction=0.25, kl_coef=1.0)
    r = [[math.exp(0.1), math.exp(0.2)], [math.exp(-0.1), math.exp(0.3)]]
    surrogate = -(3 * r[0][0] + 1 * r[0][1] - 1 * r[1][0] - 2 * r[1][1])
    assert loss.item() == pytest.approx((surrogate + 0.1) / 4)
    loss.backward()
    expected = [[(-3 * r[0][0] + 1.0) / 4, -r[0][1] / 4], [r[1][0] / 4, 2 * r[1][1] / 4]]
    torch.testing.assert_close(logp.grad, torch.tensor(expected, dtype=torch.float64))
    assert stats["policy/kl_cov_frac"].item() == pytest.approx(0.25)
    # no clipping in KL-Cov, however far the ratio goes
    assert stats["policy/clipfrac"].item() == stats["policy/clipfrac_high"].item() == 0.0
    # kl_fraction 0.5 -> the two largest: (0,0) 4.125 and (1,1) 3.375; |log r| = 0.1 + 0.3
    loss, stats = kl_cov(logp.detach(), old, ADV, MASK, kl_fraction=0.5, kl_coef=2.0)
    assert loss.item() == pytest.approx((surrogate + 2.0 * (0.1 + 0.3)) / 4)
    assert stats["policy/kl_cov_frac"].item() == pytest.approx(0.5)


def test_ppo_clip_reports_low_and_high_clip_fractions():
    # r = 1.5, A = 1: clipped high; r = 0.7, A = -1: clipped low; the other two are not clipped
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.1, 0.7]], dtype=torch.float64))
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]], dtype=torch.float64)
    _, stats = ppo_clip(logp, torch.zeros_like(logp), adv, torch.ones(1, 4, dtype=torch.bool))
    assert stats["policy/clipfrac_low"].item() == pytest.approx(0.25)
    assert stats["policy/clipfrac_high"].item() == pytest.approx(0.25)
    assert stats["policy/clipfrac"].item() == pytest.approx(0.5)


def test_column_slices_as_in_the_update_give_the_same_result():
    # the trainer trims micro-batches to their used columns: non-contiguous (B, T) views
    def wide(t, fill):
        return torch.cat([t, torch.full((2, 1), fill, dtype=t.dtype)], 1)[:, :2]

    logp = torch.tensor(LOGP, dtype=torch.float64)
    old = logp - 0.1
    for fn, kwargs in ((kl_cov, {"kl_fraction": 0.5}), (clip_cov, {"cov_fraction": 0.5})):
        plain, _ = fn(logp, old, ADV, MASK, **kwargs)
        sliced, _ = fn(wide(logp, 0.0), wide(old, 0.0), wide(ADV, 9.0), wide(MASK, True), **kwargs)
        assert not wide(MASK, True).is_contiguous()
        assert sliced.item() == pytest.approx(plain.item())
