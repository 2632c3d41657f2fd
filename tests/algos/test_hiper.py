"""HiPER's Hierarchical Advantage Estimation: literal values, reductions, a slow reference loop."""

import random

import pytest
import torch

from rlx.algos.advantages import gae, needs_values, value_heads
from rlx.algos.hiper import hiper, segment_starts, value_mask
from rlx.algos.step_advantages import StepInfo, needs_steps

T = 3  # tokens per row: token 0 is the planner's, tokens 1-2 the executor's


def rows(episodes, *, noise=9.0, order=None):
    """Per-step rows from episodes given as lists of (reward, segment, v_lo, v_hi).

    Every row: 3 action tokens, the first a planner token. values[..., 1] is read at token 0
    (V_hi) and values[..., 0] at token 1 (V_lo, the first executor token); all other value
    entries are `noise`, which HAE must ignore. Returns the estimator's arguments."""
    flat = [(g, e, s, step) for g, group in enumerate(episodes) for e, ep in enumerate(group)
            for s, step in enumerate(ep)]
    if order is not None:
        flat = [flat[i] for i in order]
    b = len(flat)
    rewards = torch.zeros(b, T, dtype=torch.float64)
    values = torch.full((b, T, 2), noise, dtype=torch.float64)
    for i, (_, _, _, (r, _, v_lo, v_hi)) in enumerate(flat):
        rewards[i, -1] = r
        values[i, 1, 0] = v_lo
        values[i, 0, 1] = v_hi
    planner = torch.zeros(b, T, dtype=torch.bool)
    planner[:, 0] = True
    steps = StepInfo(episode_ids=torch.tensor([f[1] for f in flat]),
                     step_ids=torch.tensor([f[2] for f in flat]),
                     anchor_ids=torch.zeros(b, dtype=torch.long), planner_mask=planner,
                     segment_ids=torch.tensor([f[3][1] for f in flat]))
    return rewards, torch.ones(b, T, dtype=torch.bool), torch.tensor([f[0] for f in flat]), values, steps


def test_flags():
    assert needs_steps(hiper) and needs_values(hiper) and value_heads(hiper) == 2
    assert value_heads(gae) == 1


def test_literal_values_of_one_episode_with_a_switch():
    # steps: (reward, segment, V_lo, V_hi); the switch is at step 2
    rewards, mask, groups, values, steps = rows([[[(0.0, 0, 0.2, 0.1), (0.0, 0, 0.4, 5.0),
                                                   (1.0, 1, 0.6, 0.3)]]])
    adv, ret = hiper(rewards, mask, groups, values, steps=steps, gamma=0.5, lam_turn=1.0,
                     lam_seg=1.0, normalize=False)
    # low level: A2 = 1 - 0.6; A1 = 0 + 0.5 * V_hi(2) - 0.4 (bootstrap at the switch);
    # A0 = (0 + 0.5 * 0.4 - 0.2) + 0.5 * A1.  high level: seg 1: 1 - 0.3 = 0.7;
    # seg 0: R = 0, d = 2: 0 + 0.25 * 0.3 - 0.1 + 0.25 * 0.7 = 0.15
    expected = torch.tensor([[0.15, -0.125, -0.125],   # segment start: planner token gets A_hi
                             [-0.25, -0.25, -0.25],    # KEEP: planner token gets the step's A_lo
                             [0.7, 0.4, 0.4]], dtype=torch.float64)
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret[..., 0], torch.tensor([[0, 0.075, 0.075], [0, 0.15, 0.15],
                                                          [0, 1.0, 1.0]], dtype=torch.float64))
    torch.testing.assert_close(ret[..., 1], torch.tensor([[0.25, 0, 0], [0, 0, 0], [1.0, 0, 0]],
                                                         dtype=torch.float64))
    none, _ = hiper(rewards, mask, groups, values, steps=steps, gamma=0.5, lam_turn=1.0,
                    lam_seg=1.0, normalize=False, keep_credit="none")
    assert none[1, 0] == 0 and none[1, 1] == -0.25


def test_value_mask_trains_executor_head_on_executor_tokens_and_planner_head_at_switches():
    rewards, mask, groups, values, steps = rows([[[(0, 0, 0, 0), (0, 0, 0, 0), (1, 1, 0, 0)]]])
    heads = value_mask(mask, groups, steps)
    assert heads[..., 0].tolist() == [[False, True, True]] * 3
    assert heads[..., 1].tolist() == [[True, False, False], [False] * 3, [True, False, False]]
    assert segment_starts(groups, steps).tolist() == [True, False, True]


def flat_turn_gae(step_rewards, v_lo, gamma, lam):
    """Turn-level GAE of one episode through rlx's token-level `gae`: one token per step."""
    r = torch.tensor([step_rewards], dtype=torch.float64)
    v = torch.tensor([v_lo], dtype=torch.float64)
    adv, _ = gae(r, torch.ones_like(r, dtype=torch.bool), torch.zeros(1, dtype=torch.long), v,
                 gamma=gamma, lam=lam, mean="none", std="none")
    return adv[0]


def test_one_segment_per_episode_reduces_to_turn_level_gae_and_a_monte_carlo_planner_credit():
    gen = random.Random(0)
    episodes = [[[(gen.random(), 0, gen.random(), gen.random()) for _ in range(gen.randint(1, 5))]
                 for _ in range(3)] for _ in range(2)]
    rewards, mask, groups, values, steps = rows(episodes)
    gamma, lam = 0.9, 0.8
    adv, _ = hiper(rewards, mask, groups, values, steps=steps, gamma=gamma, lam_turn=lam,
                   lam_seg=0.5, normalize=False)
    i = 0
    for group in episodes:
        for ep in group:
            r = [s[0] for s in ep]
            expected = flat_turn_gae(r, [s[2] for s in ep], gamma, lam)
            torch.testing.assert_close(adv[i: i + len(ep), 1], expected)
            ret = sum(gamma ** k * x for k, x in enumerate(r))
            assert adv[i, 0].item() == pytest.approx(ret - ep[0][3])  # R - V_hi(s_0)
            i += len(ep)


def test_a_perfect_critic_leaves_no_advantage():
    gamma = 0.9
    r = [0.0, 0.5, 0.0, 0.0, 1.0]
    segments = [0, 0, 1, 1, 2]
    to_go = [sum(gamma ** (k - t) * r[k] for k in range(t, len(r))) for t in range(len(r))]
    episode = [(r[t], segments[t], to_go[t], to_go[t]) for t in range(len(r))]
    rewards, mask, groups, values, steps = rows([[episode, episode]])
    adv, _ = hiper(rewards, mask, groups, values, steps=steps, gamma=gamma, lam_turn=0.7,
                   lam_seg=0.95, normalize=False)
    torch.testing.assert_close(adv, torch.zeros_like(adv))


def test_identical_trajectories_get_identical_advantages():
    episode = [(0.0, 0, 0.1, 0.2), (1.0, 1, 0.3, 0.4)]
    rewards, mask, groups, values, steps = rows([[episode, episode, episode]])
    adv, _ = hiper(rewards, mask, groups, values, steps=steps)
    torch.testing.assert_close(adv[0::2], adv[0:1].expand(3, T))
    torch.testing.assert_close(adv[1::2], adv[1:2].expand(3, T))


def reference_hae(episodes, gamma, lam_turn, lam_seg):
    """Slow per-episode loop: {(g, e, t): (A_lo, A_hi or None)} straight from the definitions."""
    out = {}
    for g, group in enumerate(episodes):
        for e, ep in enumerate(group):
            n = len(ep)
            starts = [t for t in range(n) if t == 0 or ep[t][1] != ep[t - 1][1]]
            bounds = [(s, (starts[k + 1] if k + 1 < len(starts) else n)) for k, s in enumerate(starts)]
            a_lo = [0.0] * n
            for s, end in bounds:
                carry = 0.0
                for t in reversed(range(s, end)):
                    if t + 1 < end:
                        v_next = ep[t + 1][2]
                    elif end < n:
                        v_next = ep[end][3]
                    else:
                        v_next = 0.0
                    delta = ep[t][0] + gamma * v_next - ep[t][2]
                    carry = delta + (gamma * lam_turn * carry if t + 1 < end else 0.0)
                    a_lo[t] = carry
            a_hi = {}
            carry = 0.0
            for k in reversed(range(len(bounds))):
                s, end = bounds[k]
                seg_return = sum(gamma ** (j - s) * ep[j][0] for j in range(s, end))
                d = end - s
                nxt = ep[end][3] if end < n else 0.0
                carry = seg_return + gamma ** d * nxt - ep[s][3] + gamma ** d * lam_seg * carry
                a_hi[s] = carry
            for t in range(n):
                out[(g, e, t)] = (a_lo[t], a_hi.get(t))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_tensor_code_matches_the_slow_reference_on_random_episodes(seed):
    gen = random.Random(seed)
    episodes = []
    for _ in range(gen.randint(1, 3)):
        group = []
        for _ in range(gen.randint(1, 4)):
            segment, ep = 0, []
            for t in range(gen.randint(1, 7)):
                segment += int(t > 0 and gen.random() < 0.4)
                ep.append((gen.choice([0.0, 0.0, 1.0, gen.uniform(-1, 1)]), segment,
                           gen.uniform(-1, 1), gen.uniform(-1, 1)))
            group.append(ep)
        episodes.append(group)
    flat = [(g, e, t) for g, group in enumerate(episodes) for e, ep in enumerate(group)
            for t in range(len(ep))]
    order = list(range(len(flat)))
    gen.shuffle(order)  # rows may come in any order
    gamma, lam_turn, lam_seg = gen.uniform(0.5, 1), gen.uniform(0, 1), gen.uniform(0, 1)
    args = rows(episodes, order=order)
    adv, _ = hiper(*args[:4], steps=args[4], gamma=gamma, lam_turn=lam_turn, lam_seg=lam_seg,
                   normalize=False)
    expected = reference_hae(episodes, gamma, lam_turn, lam_seg)
    for i, key in enumerate(flat[j] for j in order):
        a_lo, a_hi = expected[key]
        assert adv[i, 1].item() == pytest.approx(a_lo, abs=1e-9)
        assert adv[i, 0].item() == pytest.approx(a_hi if a_hi is not None else a_lo, abs=1e-9)


def test_normalize_whitens_each_level_over_the_batch():
    gen = random.Random(3)
    episodes = [[[(gen.random(), t // 2, gen.random(), gen.random()) for t in range(5)]
                 for _ in range(4)]]
    args = rows(episodes)
    adv, _ = hiper(*args[:4], steps=args[4], normalize=True)
    executor = adv[:, 1]
    starts = segment_starts(args[2], args[4])
    assert executor.mean().item() == pytest.approx(0.0, abs=1e-9)
    assert executor.std().item() == pytest.approx(1.0, abs=1e-6)
    assert adv[starts, 0].mean().item() == pytest.approx(0.0, abs=1e-9)
    assert adv[starts, 0].std().item() == pytest.approx(1.0, abs=1e-6)


def test_needs_two_head_values():
    args = rows([[[(1.0, 0, 0, 0)]]])
    with pytest.raises(ValueError, match="two-head"):
        hiper(*args[:3], args[3][..., 0], steps=args[4])


def test_keep_penalty_is_added_to_the_reward_of_keep_steps_only():
    # the same episode as the literal test; step 1 is the only KEEP step (step 0 starts the
    # episode, step 2 switches). keep_penalty=-0.3 makes its reward -0.3: A_lo(1) = -0.3 + 0.5
    # * 0.3 - 0.4 = -0.55, A_lo(0) = 0 + 0.2 - 0.2 + 0.5 * -0.55 = -0.275; segment 0's return
    # R = 0 + 0.5 * -0.3 = -0.15: A_hi(0) = -0.15 + 0.25 * 0.3 - 0.1 + 0.25 * 0.7 = 0.0
    rewards, mask, groups, values, steps = rows([[[(0.0, 0, 0.2, 0.1), (0.0, 0, 0.4, 5.0),
                                                   (1.0, 1, 0.6, 0.3)]]])
    adv, _ = hiper(rewards, mask, groups, values, steps=steps, gamma=0.5, lam_turn=1.0,
                   lam_seg=1.0, normalize=False, keep_penalty=-0.3)
    expected = torch.tensor([[0.0, -0.275, -0.275],
                             [-0.55, -0.55, -0.55],
                             [0.7, 0.4, 0.4]], dtype=torch.float64)
    torch.testing.assert_close(adv, expected)
    default, _ = hiper(rewards, mask, groups, values, steps=steps, gamma=0.5, lam_turn=1.0,
                       lam_seg=1.0, normalize=False)
    same, _ = hiper(rewards, mask, groups, values, steps=steps, gamma=0.5, lam_turn=1.0,
                    lam_seg=1.0, normalize=False, keep_penalty=0.0)
    torch.testing.assert_close(default, same)
