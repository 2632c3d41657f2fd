import math

import pytest
import torch

from rlx.algos.entropy import entropy_from_logits
from rlx.algos.kl import kl_penalty, value_loss

LOGP = torch.tensor([[0.0, -1.0, -0.5]])
REF = torch.tensor([[-1.0, 0.0, -0.5]])  # d = logp - ref = 1, -1, 0


@pytest.mark.parametrize(
    "estimator, expected",
    [
        ("k1", [1.0, -1.0, 0.0]),
        ("k2", [0.5, 0.5, 0.0]),  # d^2 / 2
        ("k3", [math.exp(-1) + 1 - 1, math.exp(1) - 1 - 1, 0.0]),  # exp(-d) + d - 1: 0.3679, 0.7183
    ],
)
def test_kl_estimators_by_hand(estimator, expected):
    torch.testing.assert_close(kl_penalty(LOGP, REF, estimator), torch.tensor([expected]))


def test_k1_and_k3_are_unbiased_estimates_of_kl():
    gen = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(6, generator=gen, dtype=torch.float64), 0)
    q = torch.softmax(torch.randn(6, generator=gen, dtype=torch.float64), 0)
    exact = (p * (p / q).log()).sum()
    samples = torch.multinomial(p, 200_000, replacement=True, generator=gen)
    logp, logq = p.log()[samples], q.log()[samples]
    for estimator in ("k1", "k3"):
        assert kl_penalty(logp, logq, estimator).mean().item() == pytest.approx(exact.item(), abs=0.01)
    assert (kl_penalty(logp, logq, "k3") >= 0).all()


def test_k3_stays_finite_for_extreme_ratios():
    assert torch.isfinite(kl_penalty(torch.tensor([0.0]), torch.tensor([500.0]), "k3")).all()


def test_value_loss_by_hand():
    values = torch.tensor([[1.0, 2.0, 7.0]])
    old = torch.tensor([[0.5, 2.0, 7.0]])
    returns = torch.tensor([[2.0, 1.0, 0.0]])
    mask = torch.tensor([[True, True, False]])
    # t0: (1 - 2)^2 = 1; clipped V = .5 + clamp(.5, -.2, .2) = .7 -> (0.7 - 2)^2 = 1.69 -> 1.69
    # t1: (2 - 1)^2 = 1 both ways. loss = 0.5 * (1.69 + 1) / 2
    loss, stats = value_loss(values, returns, old, mask, 0.2)
    assert loss.item() == pytest.approx(0.6725)
    assert stats["value/clipfrac"].item() == pytest.approx(0.5)
    assert stats["value/mean"].item() == pytest.approx(1.5)
    loss, _ = value_loss(values, returns, None, mask, None)
    assert loss.item() == pytest.approx(0.5)
    loss, _ = value_loss(values, returns, old, mask, 0.2, num_tokens=4)
    assert loss.item() == pytest.approx(0.5 * 2.69 / 4)


def test_entropy_by_hand():
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [0.0, math.log(3.0), float("-inf"), float("-inf")]]])
    # uniform over 4: log 4; probs (.25, .75): -(.25 log .25 + .75 log .75) = 0.5623
    expected = torch.tensor([[math.log(4.0), -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))]])
    torch.testing.assert_close(entropy_from_logits(logits), expected)


def test_entropy_matches_categorical_and_upcasts():
    logits = torch.randn(3, 5, 11, generator=torch.Generator().manual_seed(1))
    expected = torch.distributions.Categorical(logits=logits).entropy()
    torch.testing.assert_close(entropy_from_logits(logits), expected)
    out = entropy_from_logits(logits.bfloat16())
    assert out.dtype == torch.float32 and out.shape == (3, 5)
    chunks = torch.cat([entropy_from_logits(c) for c in logits.split(2, dim=1)], dim=1)
    torch.testing.assert_close(chunks, expected)
