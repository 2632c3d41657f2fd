import functools
import statistics

import pytest
import torch

from rlx.algos import advantages as adv
from rlx.algos.returns import broadcast_to_actions, discounted_returns, sequence_scores

ESTIMATORS = [adv.grpo, adv.rloo, adv.reinforce_pp, adv.reinforce_pp_baseline, adv.gae]

# Ragged batch: row 0 full, row 1 ends early, row 2 starts late, row 3 is a zero-length response.
MASK = torch.tensor([[1, 1, 1], [1, 1, 0], [0, 1, 1], [0, 0, 0]], dtype=torch.bool)
REWARDS = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
GROUPS = torch.tensor([10, 10, 10, 42])  # scores {1, 0, 1} and a group of one


def test_helpers():
    torch.testing.assert_close(sequence_scores(REWARDS, MASK), torch.tensor([1.0, 0.0, 1.0, 0.0]))
    torch.testing.assert_close(
        broadcast_to_actions(torch.tensor([2.0, 3.0, 4.0, 5.0]), MASK),
        torch.tensor([[2.0, 2.0, 2.0], [3.0, 3.0, 0.0], [0.0, 4.0, 4.0], [0.0, 0.0, 0.0]]),
    )


def test_grpo_by_hand():
    # group 10: mean 2/3, unbiased std sqrt(((1/3)^2 + (2/3)^2 + (1/3)^2) / 2) = sqrt(1/3)
    a, b = (1 / 3) / (1 / 3) ** 0.5, (-2 / 3) / (1 / 3) ** 0.5  # 0.57735, -1.1547
    advantages, returns = adv.grpo(REWARDS, MASK, GROUPS, eps=0.0)
    expected = torch.tensor([[a, a, a], [b, b, 0.0], [0.0, a, a], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, torch.tensor([[1.0] * 3, [0.0] * 3, [0.0, 1.0, 1.0], [0.0] * 3]))


def test_dr_grpo_and_lite_ppo_choices_by_hand():
    advantages, _ = adv.grpo(REWARDS, MASK, GROUPS, mean="group", std="none")
    torch.testing.assert_close(advantages[:, 1], torch.tensor([1 / 3, -2 / 3, 1 / 3, 0.0]))
    # lite ppo: batch std of the scores {1, 0, 1, 0}: unbiased sqrt(1/3)
    advantages, _ = adv.grpo(REWARDS, MASK, GROUPS, mean="group", std="batch", eps=0.0)
    s = (1 / 3) ** 0.5
    torch.testing.assert_close(advantages[:, 1], torch.tensor([1 / 3 / s, -2 / 3 / s, 1 / 3 / s, 0.0]))


def test_all_equal_group_gives_zero_not_nan():
    rewards = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    mask = torch.ones(3, 2, dtype=torch.bool)
    for fn in (adv.grpo, adv.rloo, adv.reinforce_pp_baseline):
        advantages, _ = fn(rewards, mask, torch.tensor([5, 5, 5]))
        assert torch.equal(advantages, torch.zeros(3, 2)), fn.__name__


def test_rloo_by_hand():
    # group 10 scores {1, 0, 1}: 1 - (0 + 1)/2 = 0.5, 0 - (1 + 1)/2 = -1, 0.5; the group of one gets 0
    advantages, returns = adv.rloo(REWARDS, MASK, GROUPS)
    expected = torch.tensor([[0.5, 0.5, 0.5], [-1.0, -1.0, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, adv.grpo(REWARDS, MASK, GROUPS)[1])


# Two rows; row 0 has an observation token at t=2 (transparent; its reward 9 is ignored).
TURN_MASK = torch.tensor([[1, 1, 0, 1], [0, 1, 1, 0]], dtype=torch.bool)
TURN_REWARDS = torch.tensor([[0.0, 0.5, 9.0, 1.0], [0.0, 0.0, 2.0, 0.0]])


def test_discounted_returns_by_hand():
    # gamma 0.5, row 0: G3 = 1, G1 = 0.5 + 0.5 * 1 = 1, G0 = 0 + 0.5 * 1 = 0.5; row 1: G2 = 2, G1 = 1
    expected = torch.tensor([[0.5, 1.0, 0.0, 1.0], [0.0, 1.0, 2.0, 0.0]])
    torch.testing.assert_close(discounted_returns(TURN_REWARDS, TURN_MASK, 0.5), expected)
    # gamma 1 (cumulative-sum path): row 0: 1.5, 1.5, -, 1; row 1: 2, 2
    expected = torch.tensor([[1.5, 1.5, 0.0, 1.0], [0.0, 2.0, 2.0, 0.0]])
    torch.testing.assert_close(discounted_returns(TURN_REWARDS, TURN_MASK, 1.0), expected)


def test_reinforce_pp_by_hand():
    # action-token returns 0.5, 1, 1, 1, 2: mean 1.1, squared deviations sum 1.2, unbiased std sqrt(0.3)
    s = 0.3**0.5
    advantages, returns = adv.reinforce_pp(TURN_REWARDS, TURN_MASK, torch.tensor([0, 1]), gamma=0.5, eps=0.0)
    expected = torch.tensor([[-0.6 / s, -0.1 / s, 0.0, -0.1 / s], [0.0, -0.1 / s, 0.9 / s, 0.0]])
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, discounted_returns(TURN_REWARDS, TURN_MASK, 0.5))


def test_reinforce_pp_baseline_by_hand():
    rewards = torch.tensor([[0.0, 1.0], [0.0, 0.0], [0.0, 3.0]])
    mask = torch.ones(3, 2, dtype=torch.bool)
    # returns [1,1], [0,0], [3,3]; group means 0.5 (rows 0, 1) and 3 (row 2)
    # centred [.5,.5], [-.5,-.5], [0,0]: batch mean 0, unbiased var (4 * 0.25) / (6 - 1) = 0.2
    s = 0.2**0.5
    advantages, returns = adv.reinforce_pp_baseline(rewards, mask, torch.tensor([0, 0, 1]), eps=0.0)
    torch.testing.assert_close(advantages, torch.tensor([[0.5 / s] * 2, [-0.5 / s] * 2, [0.0, 0.0]]))
    torch.testing.assert_close(returns, torch.tensor([[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]]))


def test_gae_by_hand_with_a_transparent_token():
    mask = torch.tensor([[1, 1, 0, 1]], dtype=torch.bool)
    rewards = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 99.0, 0.8]])  # V at the observation token is ignored
    # gamma .9, lam .8 over action tokens V = .5, .6, .8:
    # delta3 = 1 - .8 = .2                 A3 = .2
    # delta1 = .9 * .8 - .6 = .12          A1 = .12 + .72 * .2 = .264
    # delta0 = .9 * .6 - .5 = .04          A0 = .04 + .72 * .264 = .23008
    advantages, returns = adv.gae(rewards, mask, torch.tensor([0]), values,
                                  gamma=0.9, lam=0.8, mean="none", std="none")
    torch.testing.assert_close(advantages, torch.tensor([[0.23008, 0.264, 0.0, 0.2]]))
    torch.testing.assert_close(returns, torch.tensor([[0.73008, 0.864, 0.0, 1.0]]))


def test_gae_whitening_and_value_requirements():
    mask = torch.tensor([[1, 1, 0, 1]], dtype=torch.bool)
    rewards = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 99.0, 0.8]])
    whitened, _ = adv.gae(rewards, mask, torch.tensor([0]), values, gamma=0.9, lam=0.8, eps=0.0)
    raw = torch.tensor([0.23008, 0.264, 0.2])
    expected = (raw - raw.mean()) / raw.std()
    torch.testing.assert_close(whitened[0, [0, 1, 3]], expected)
    assert whitened[0, 2] == 0
    with pytest.raises(ValueError, match="values"):
        adv.gae(rewards, mask, torch.tensor([0]))
    assert adv.needs_values(functools.partial(adv.gae, lam=0.9))
    assert adv.needs_values(adv.gae)
    assert not any(adv.needs_values(fn) for fn in ESTIMATORS[:-1])


# ---------------------------------------------------------------- loop references


def _actions(mask_row):
    return [t for t, m in enumerate(mask_row) if m]


def _score(rewards_row, mask_row):
    return sum(rewards_row[t] for t in _actions(mask_row))


def _group_members(ids, b):
    return [j for j in range(len(ids)) if ids[j] == ids[b]]


def _whiten(tokens, mask, eps):
    vals = [tokens[b][t] for b in range(len(tokens)) for t in _actions(mask[b])]
    mean = statistics.fmean(vals) if vals else 0.0
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return [[(tokens[b][t] - mean) / (std + eps) if mask[b][t] else 0.0 for t in range(len(mask[b]))]
            for b in range(len(tokens))]


def _returns_to_go(r_row, m_row, gamma):
    out, running = [0.0] * len(m_row), 0.0
    for t in reversed(_actions(m_row)):
        running = r_row[t] + gamma * running
        out[t] = running
    return out


def ref_grpo(r, m, ids, v, eps=1e-6):
    scores = [_score(r[b], m[b]) for b in range(len(r))]
    out = []
    for b in range(len(r)):
        group = [scores[j] for j in _group_members(ids, b)]
        std = statistics.stdev(group) if len(group) > 1 else 0.0
        a = (scores[b] - statistics.fmean(group)) / (std + eps)
        out.append([a if m[b][t] else 0.0 for t in range(len(m[b]))])
    return out


def ref_rloo(r, m, ids, v):
    scores = [_score(r[b], m[b]) for b in range(len(r))]
    out = []
    for b in range(len(r)):
        others = [scores[j] for j in _group_members(ids, b) if j != b]
        a = scores[b] - sum(others) / len(others) if others else 0.0
        out.append([a if m[b][t] else 0.0 for t in range(len(m[b]))])
    return out


def ref_reinforce_pp(r, m, ids, v, gamma=1.0, eps=1e-6):
    return _whiten([_returns_to_go(r[b], m[b], gamma) for b in range(len(r))], m, eps)


def ref_reinforce_pp_baseline(r, m, ids, v, gamma=1.0, eps=1e-6):
    scores = [_score(r[b], m[b]) for b in range(len(r))]
    centred = []
    for b in range(len(r)):
        base = statistics.fmean([scores[j] for j in _group_members(ids, b)])
        g = _returns_to_go(r[b], m[b], gamma)
        centred.append([g[t] - base if m[b][t] else 0.0 for t in range(len(m[b]))])
    return _whiten(centred, m, eps)


def ref_gae(r, m, ids, v, gamma=1.0, lam=0.95, eps=1e-6):
    raw = []
    for b in range(len(r)):
        steps = _actions(m[b])
        row, next_adv = [0.0] * len(m[b]), 0.0
        for k in reversed(range(len(steps))):
            t = steps[k]
            next_v = v[b][steps[k + 1]] if k + 1 < len(steps) else 0.0
            next_adv = r[b][t] + gamma * next_v - v[b][t] + gamma * lam * next_adv
            row[t] = next_adv
        raw.append(row)
    return _whiten(raw, m, eps)


REFERENCES = {
    adv.grpo: (ref_grpo, {"eps": 1e-6}),
    adv.rloo: (ref_rloo, {}),
    adv.reinforce_pp: (ref_reinforce_pp, {"gamma": 0.9, "eps": 1e-6}),
    adv.reinforce_pp_baseline: (ref_reinforce_pp_baseline, {"gamma": 0.8, "eps": 1e-6}),
    adv.gae: (ref_gae, {"gamma": 0.95, "lam": 0.9, "eps": 1e-6}),
}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("shape", [(1, 1), (3, 9), (8, 5), (16, 24)])
@pytest.mark.parametrize("fn", ESTIMATORS, ids=lambda f: f.__name__)
def test_matches_loop_reference_and_is_zero_off_actions(make_batch, fn, shape, seed):
    batch = make_batch(*shape, seed)
    reference, kwargs = REFERENCES[fn]
    r, m, ids, v = batch["rewards"], batch["action_mask"], batch["group_ids"], batch["values"]
    advantages, returns = fn(r, m, ids, v, **kwargs)
    expected = reference(r.tolist(), m.tolist(), ids.tolist(), v.tolist(), **kwargs)
    torch.testing.assert_close(advantages, torch.tensor(expected, dtype=torch.float64))
    assert advantages.shape == returns.shape == r.shape
    assert torch.all(advantages[~m] == 0) and torch.all(returns[~m] == 0)
    assert torch.isfinite(advantages).all() and torch.isfinite(returns).all()
