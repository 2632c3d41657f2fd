"""Step-level estimators (GiGPO, HGPO, EMPG, episode_level) on per-step rows."""

import functools
import math
import pickle
import random
import statistics
from collections import defaultdict
from pathlib import Path

import hydra.utils
import pytest
import torch
from omegaconf import OmegaConf

from rlx.algos import advantages as adv
from rlx.algos.step_advantages import (
    StepInfo,
    context_ids,
    empg,
    episode_level,
    gigpo,
    hgpo,
    needs_steps,
    state_id,
)

CONF = Path(__file__).resolve().parents[2] / "conf" / "advantage"
T = 3


def rows_to_batch(rows, dtype=torch.float64):
    """rows: dicts with group, episode, step, anchor, ctx (list), reward, entropy, mask (T,)."""
    mask = torch.tensor([r["mask"] for r in rows], dtype=torch.bool)
    rewards = torch.zeros(mask.shape, dtype=dtype)
    for i, r in enumerate(rows):
        acting = mask[i].nonzero()
        if len(acting):
            rewards[i, acting[-1]] = r["reward"]
        off = (~mask[i]).nonzero()
        if len(off):
            rewards[i, off[0]] = 9.0  # an observation token's reward: must be ignored
    steps = StepInfo(
        episode_ids=torch.tensor([r["episode"] for r in rows]),
        step_ids=torch.tensor([r["step"] for r in rows]),
        anchor_ids=torch.tensor([r["anchor"] for r in rows]),
        context_ids=torch.tensor([r["ctx"] for r in rows]),
        entropy=torch.tensor([r.get("entropy", 0.0) for r in rows], dtype=dtype),
    )
    return rewards, mask, torch.tensor([r["group"] for r in rows]), steps


def row(group, episode, step, anchor, ctx1, reward, mask=(1, 1, 0), entropy=0.0):
    return dict(group=group, episode=episode, step=step, anchor=anchor, ctx=[anchor, ctx1],
                reward=reward, mask=mask, entropy=entropy)


# Group 7: episodes A (id 0, 2 steps), B (id 1, 3 steps), C (id 2, 2 steps); group 9: one
# one-step episode whose episode id (0) and anchor (10) coincide with A's: must not mix.
# Anchors: 10 = start state, 11 = a state A, B and C all reach, 12 = a detour of B.
# ctx1 (history of one step): A1 and C1 came 10 -> 11 (201); B2 came 12 -> 11 (202).
NAMED = {
    "A0": row(7, 0, 0, 10, 100, 0.0, mask=(1, 0, 1)),
    "A1": row(7, 0, 1, 11, 201, 1.0),
    "B0": row(7, 1, 0, 10, 100, 0.0, mask=(0, 1, 1)),
    "B1": row(7, 1, 1, 12, 203, 0.0),
    "B2": row(7, 1, 2, 11, 202, 0.0, mask=(1, 1, 1)),
    "C0": row(7, 2, 0, 10, 100, 0.0),
    "C1": row(7, 2, 1, 11, 201, 0.5, mask=(0, 0, 1)),
    "G9": row(9, 0, 0, 10, 100, 1.0),
}
ORDER = ["B2", "A1", "G9", "C0", "A0", "B1", "C1", "B0"]  # rows in any order
REWARDS, MASK, GROUPS, STEPS = rows_to_batch([NAMED[n] for n in ORDER])


def per_row(advantages):
    """(B, T) -> {name: the value on the row's action tokens} (checks it is uniform and 0 off)."""
    out = {}
    for i, name in enumerate(ORDER):
        on = advantages[i][MASK[i]]
        assert torch.all(advantages[i][~MASK[i]] == 0)
        assert torch.allclose(on, on[0].expand_as(on))
        out[name] = on[0].item()
    return out


def assert_rows(advantages, expected):
    got = per_row(advantages)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


def test_gigpo_by_hand_std_group():
    # Episode returns A = 1, B = 0, C = 0.5, each counted once (not once per step: per-step
    # counting would give a mean of 2.5 / 7): mean 0.5, unbiased std sqrt((.25+.25+0)/2) = 0.5
    #   A^E: A = 1, B = -1, C = 0; group 9 has one episode: 0.
    # Step returns (gamma 0.5): A = [0.5, 1], B = [0, 0, 0], C = [0.25, 0.5].
    #   anchor 10 {A0 .5, B0 0, C0 .25}: mean .25, std .25 -> A0 1, B0 -1, C0 0
    #   anchor 11 {A1 1, B2 0, C1 .5}: mean .5, std .5 -> A1 1, B2 -1, C1 0
    #   anchor 12 {B1}: a singleton -> 0; group 9's anchor 10 is its own singleton -> 0
    advantages, returns = gigpo(REWARDS, MASK, GROUPS, steps=STEPS, gamma=0.5, eps=0.0)
    assert_rows(advantages, {"A0": 2, "A1": 2, "B0": -2, "B1": -1, "B2": -2, "C0": 0, "C1": 0,
                             "G9": 0})
    assert_rows(returns, {"A0": 0.5, "A1": 1, "B0": 0, "B1": 0, "B2": 0, "C0": 0.25, "C1": 0.5,
                          "G9": 1})


def test_gigpo_by_hand_mean_only_and_step_weight():
    # std none: A^E = R - 0.5 -> A .5, B -.5, C 0; A^S: A0 .25, B0 -.25, C0 0, A1 .5, B2 -.5,
    # C1 0, B1 0. step_weight 0.5: A0 .5 + .125, A1 .5 + .25, B0 -.625, B1 -.5, B2 -.75.
    advantages, _ = gigpo(REWARDS, MASK, GROUPS, steps=STEPS, gamma=0.5, step_weight=0.5,
                          std="none")
    assert_rows(advantages, {"A0": 0.625, "A1": 0.75, "B0": -0.625, "B1": -0.5, "B2": -0.75,
                             "C0": 0, "C1": 0, "G9": 0})


def test_gigpo_singleton_and_all_equal_edge_cases():
    # Every anchor different: each step group is a singleton, so A = A^E only.
    steps = StepInfo(STEPS.episode_ids, STEPS.step_ids, torch.arange(len(ORDER)) * 7)
    advantages, _ = gigpo(REWARDS, MASK, GROUPS, steps=steps, gamma=0.5, eps=0.0)
    assert_rows(advantages, {"A0": 1, "A1": 1, "B0": -1, "B1": -1, "B2": -1, "C0": 0, "C1": 0})
    # All returns equal (every step rewarded 1, equal-length episodes): exactly 0, no NaN.
    rewards = torch.zeros(4, 2)
    rewards[:, 1] = 1.0
    equal = StepInfo(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]),
                     torch.tensor([5, 6, 5, 6]))
    for std in ("group", "none"):
        advantages, _ = gigpo(rewards, torch.ones(4, 2), torch.tensor([3, 3, 3, 3]), steps=equal,
                              std=std, eps=0.0)
        assert torch.equal(advantages, torch.zeros(4, 2))


def test_gigpo_step_returns_discount_over_gaps():
    # One episode with steps 0 and 2 recorded (step 1 missing): R_0 = r_0 + gamma^2 r_2.
    rewards = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    steps = StepInfo(torch.tensor([4, 4]), torch.tensor([2, 0]), torch.tensor([1, 2]))
    _, returns = gigpo(rewards, torch.ones(2, 1), torch.tensor([0, 0]), steps=steps, gamma=0.5)
    assert returns[:, 0].tolist() == [1.0, 2.0 + 0.25 * 1.0]


def test_hgpo_by_hand():
    # Level 0 (current state, std none) as in the GiGPO test: A0 .25, B0 -.25, C0 0, A1 .5,
    # B2 -.5, C1 0; B1 and G9 singletons (invalid).
    # Level 1 (ctx1): 100 {A0, B0, C0} = level 0 values; 201 {A1 1, C1 .5}: mean .75 ->
    # A1 .25, C1 -.25; 202 {B2} and 203 {B1} singletons. Weights (k+1)^1: w0 = 1, w1 = 2.
    #   A0 (.25 + 2 * .25) / 3 = .25    A1 (.5 + 2 * .25) / 3 = 1/3    C1 (0 - 2 * .25) / 3 = -1/6
    #   B2: level 0 only -> -.5          B1: no valid level -> 0
    advantages, returns = hgpo(REWARDS, MASK, GROUPS, steps=STEPS, gamma=0.5, std="none",
                               episode_weight=0.0)
    hierarchy = {"A0": 0.25, "A1": 1 / 3, "B0": -0.25, "B1": 0, "B2": -0.5, "C0": 0,
                 "C1": -1 / 6, "G9": 0}
    assert_rows(advantages, hierarchy)
    assert torch.equal(returns, gigpo(REWARDS, MASK, GROUPS, steps=STEPS, gamma=0.5)[1])
    # + A^E (A .5, B -.5, C 0) with episode_weight 1
    episode = {"A0": 0.5, "A1": 0.5, "B0": -0.5, "B1": -0.5, "B2": -0.5, "C0": 0, "C1": 0,
               "G9": 0}
    advantages, _ = hgpo(REWARDS, MASK, GROUPS, steps=STEPS, gamma=0.5, std="none")
    assert_rows(advantages, {n: hierarchy[n] + episode[n] for n in hierarchy})
    # alpha 0: uniform weights -> A1 (.5 + .25) / 2 = .375, C1 -.125
    advantages, _ = hgpo(REWARDS, MASK, GROUPS, steps=STEPS, gamma=0.5, std="none", alpha=0.0,
                         episode_weight=0.0)
    assert_rows(advantages, {"A0": 0.25, "A1": 0.375, "C1": -0.125, "B2": -0.5, "B1": 0})


def test_hgpo_base_group_by_hand():
    # A^E joins the average with weight 1 (valid: group 7 has 3 episodes; group 9 only 1).
    #   A0 (.5 + .25 + 2 * .25) / 4 = .3125   A1 (.5 + .5 + 2 * .25) / 4 = .375
    #   B0 (-.5 - .25 - 2 * .25) / 4 = -.3125  B1: base only -> -.5   B2 (-.5 - .5) / 2 = -.5
    #   C0 0   C1 (0 + 0 - 2 * .25) / 4 = -.125   G9: nothing valid -> 0
    advantages, _ = hgpo(REWARDS, MASK, GROUPS, steps=STEPS, gamma=0.5, std="none",
                         episode_weight=0.0, base_group=True)
    assert_rows(advantages, {"A0": 0.3125, "A1": 0.375, "B0": -0.3125, "B1": -0.5, "B2": -0.5,
                             "C0": 0, "C1": -0.125, "G9": 0})


def test_hgpo_with_one_level_is_gigpo():
    batch = random_step_batch(seed=3, levels=1)
    rewards, mask, groups, steps = batch
    for std in ("group", "none"):
        got, got_returns = hgpo(rewards, mask, groups, steps=steps, std=std, alpha=2.0)
        want, want_returns = gigpo(rewards, mask, groups, steps=steps, std=std)
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(got_returns, want_returns)


# EMPG: group 7 = A (rewards 0, 1: succeeds), B (0, 0: fails); group 9: one one-step episode.
EMPG_ORDER = ["A0", "A1", "B0", "B1", "G9"]
EMPG_ROWS = [row(7, 0, 0, 1, 1, 0.0, entropy=0.2), row(7, 0, 1, 2, 2, 1.0, entropy=1.0),
             row(7, 1, 0, 1, 1, 0.0, entropy=1.0), row(7, 1, 1, 3, 3, 0.0, entropy=0.2),
             row(9, 0, 0, 1, 1, 1.0, entropy=0.2)]


def test_empg_by_hand():
    rewards, mask, groups, steps = rows_to_batch(EMPG_ROWS)
    # h = (H - 0.2) / 0.8: A0 0, A1 1, B0 1, B1 0, G9 0. sharpness ln 2: exp(-s h) = 2^-h
    #   = 1, .5, .5, 1, 1; batch mean .8 -> g = 1.25, .625, .625, 1.25, 1.25.
    # A^E (std none): A +.5, B -.5, G9 0 (a group of one).
    # clarity (coef .1) = .1 * (1 - h_next): A0 -> A1 (h 1) 0; B0 -> B1 (h 0) .1; last steps 0.
    #   A0 1.25 * .5 = .625 (confident, success: amplified)   A1 .625 * .5 = .3125 (damped)
    #   B0 .625 * -.5 + .1 = -.2125                           B1 1.25 * -.5 = -.625 (confident error)
    advantages, returns = empg(rewards, mask, groups, steps=steps, std="none",
                               sharpness=math.log(2), clarity_coef=0.1)
    expected = [0.625, 0.3125, -0.2125, -0.625, 0.0]
    torch.testing.assert_close(advantages, torch.tensor(expected, dtype=torch.float64)[:, None]
                               * mask.double())
    torch.testing.assert_close(returns[:, 0], torch.tensor([1.0, 1, 0, 0, 1], dtype=torch.float64))


def test_empg_reduces_to_the_episode_advantage():
    rewards, mask, groups, steps = rows_to_batch(EMPG_ROWS)
    plain, _ = episode_level(rewards, mask, groups, steps=steps, estimator=adv.grpo)
    no_modulation, _ = empg(rewards, mask, groups, steps=steps, sharpness=0.0, clarity_coef=0.0)
    torch.testing.assert_close(no_modulation, plain)
    # equal entropies: g = 1 everywhere; the bonus is clarity_coef on every non-last step
    flat = StepInfo(steps.episode_ids, steps.step_ids, steps.anchor_ids,
                    entropy=torch.full((5,), 0.7, dtype=torch.float64))
    got, _ = empg(rewards, mask, groups, steps=flat, clarity_coef=0.3)
    not_last = torch.tensor([1.0, 0, 1, 0, 0], dtype=torch.float64)[:, None]
    torch.testing.assert_close(got, plain + 0.3 * not_last * mask.double())


def test_episode_level_equals_the_plain_estimator_on_one_step_episodes(make_batch):
    batch = make_batch(9, 5, seed=4)
    steps = StepInfo(torch.arange(9), torch.zeros(9, dtype=torch.long), torch.zeros(9, dtype=torch.long))
    for estimator in (adv.grpo, adv.rloo, functools.partial(adv.grpo, std="none")):
        got = episode_level(batch["rewards"], batch["action_mask"], batch["group_ids"],
                            steps=steps, estimator=estimator)
        want = estimator(batch["rewards"], batch["action_mask"], batch["group_ids"])
        torch.testing.assert_close(got[0], want[0])
        torch.testing.assert_close(got[1], want[1])


def test_episode_level_rloo_by_hand():
    # group 7 returns A 1, B 0, C .5: RLOO A 1 - .25 = .75, B 0 - .75 = -.75, C .5 - .5 = 0
    advantages, returns = episode_level(REWARDS, MASK, GROUPS, steps=STEPS, estimator=adv.rloo)
    assert_rows(advantages, {"A0": 0.75, "A1": 0.75, "B0": -0.75, "B1": -0.75, "B2": -0.75,
                             "C0": 0, "C1": 0, "G9": 0})
    assert_rows(returns, {"A0": 1, "B2": 0, "C0": 0.5, "G9": 1})
    with pytest.raises(ValueError, match="value"):
        episode_level(REWARDS, MASK, GROUPS, steps=STEPS, estimator=adv.gae)


# ---- equivalence with slow Python references on random batches ----------------------------

def random_rows(seed, levels=3, groups=(17, -3, 1000), tokens=5):
    rng = random.Random(seed)
    rows = []
    for group in groups[: rng.randint(1, len(groups))]:
        for episode in rng.sample(range(100), rng.randint(1, 5)):
            length = rng.randint(1, 5)
            states = [rng.choice("abc") for _ in range(length)]  # few states: groups collide
            actions = [rng.choice("xy") for _ in range(length)]
            ctx = context_ids(states, levels - 1, actions)
            step_ids = sorted(rng.sample(range(length + 1), length))  # occasional gaps
            for t in range(length):
                mask = [rng.random() < 0.7 for _ in range(tokens)]
                if rng.random() < 0.1:
                    mask = [False] * tokens  # an empty action
                rows.append(dict(group=group, episode=episode, step=step_ids[t],
                                 anchor=ctx[t][0], ctx=ctx[t], mask=mask,
                                 reward=rng.choice([0.0, 0.0, 1.0, 0.5, -0.25]),
                                 entropy=rng.uniform(0.0, 3.0)))
    rng.shuffle(rows)
    return rows


def random_step_batch(seed, levels=3):
    return rows_to_batch(random_rows(seed, levels=levels, tokens=T))


def step_reward(r):
    return r["reward"] if any(r["mask"]) else 0.0


def ref_centre(values, keys, std, eps):
    """Slow within-group (x - mean) / F by a dict of lists; also returns group sizes."""
    members = defaultdict(list)
    for x, key in zip(values, keys):
        members[key].append(x)
    out, sizes = [], []
    for x, key in zip(values, keys):
        xs = members[key]
        sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
        centred = x - statistics.fmean(xs)
        out.append(centred / (sd + eps) if std == "group" else centred)
        sizes.append(len(xs))
    return out, sizes


def ref_episode_advantage(rows, std, eps):
    totals = defaultdict(float)
    for r in rows:
        totals[(r["group"], r["episode"])] += step_reward(r)
    episodes = list(totals)
    advantage, _ = ref_centre([totals[e] for e in episodes], [e[0] for e in episodes], std, eps)
    by_episode = dict(zip(episodes, advantage))
    return [by_episode[(r["group"], r["episode"])] for r in rows], \
        [totals[(r["group"], r["episode"])] for r in rows]


def ref_step_returns(rows, gamma):
    return [sum(gamma ** (o["step"] - r["step"]) * step_reward(o) for o in rows
                if (o["group"], o["episode"]) == (r["group"], r["episode"]) and o["step"] >= r["step"])
            for r in rows]


def ref_gigpo(rows, gamma, step_weight, std, eps):
    episode, _ = ref_episode_advantage(rows, std, eps)
    step, _ = ref_centre(ref_step_returns(rows, gamma), [(r["group"], r["anchor"]) for r in rows],
                         std, eps)
    return [e + step_weight * s for e, s in zip(episode, step)]


def ref_hgpo(rows, gamma, alpha, std, episode_weight, base_group, eps):
    returns = ref_step_returns(rows, gamma)
    episode, _ = ref_episode_advantage(rows, std, eps)
    n_episodes = defaultdict(set)
    for r in rows:
        n_episodes[r["group"]].add(r["episode"])
    items = [[] for _ in rows]
    for k in range(len(rows[0]["ctx"])):
        values, sizes = ref_centre(returns, [(r["group"], r["ctx"][k]) for r in rows], std, eps)
        for i, (value, size) in enumerate(zip(values, sizes)):
            if size >= 2:
                items[i].append(((k + 1) ** alpha, value))
    out = []
    for i, r in enumerate(rows):
        if base_group and len(n_episodes[r["group"]]) >= 2:
            items[i].append((1.0, episode[i]))
        total = sum(w for w, _ in items[i])
        hierarchy = sum(w * v for w, v in items[i]) / total if total else 0.0
        out.append(hierarchy + episode_weight * episode[i])
    return out


def ref_empg(rows, std, sharpness, clarity_coef, eps):
    episode, _ = ref_episode_advantage(rows, std, eps)
    acting = [r["entropy"] for r in rows if any(r["mask"])]
    low, high = min(acting), max(acting)
    h = [(r["entropy"] - low) / (high - low) if any(r["mask"]) else 1.0 for r in rows]
    mean_scale = statistics.fmean(math.exp(-sharpness * x) for x, r in zip(h, rows) if any(r["mask"]))
    out = []
    for i, r in enumerate(rows):
        later = [(o["step"], j) for j, o in enumerate(rows)
                 if (o["group"], o["episode"]) == (r["group"], r["episode"]) and o["step"] > r["step"]]
        clarity = 1.0 - h[min(later)[1]] if later else 0.0
        out.append(math.exp(-sharpness * h[i]) / mean_scale * episode[i] + clarity_coef * clarity)
    return out


def broadcast(values, rows):
    mask = torch.tensor([r["mask"] for r in rows], dtype=torch.float64)
    return torch.tensor(values, dtype=torch.float64)[:, None] * mask


@pytest.mark.parametrize("seed", range(6))
def test_gigpo_matches_loop_reference(seed):
    rows = random_rows(seed)
    rewards, mask, groups, steps = rows_to_batch(rows)
    for gamma, weight, std in ((0.95, 1.0, "group"), (0.5, 0.3, "none"), (1.0, 2.0, "group")):
        got, returns = gigpo(rewards, mask, groups, steps=steps, gamma=gamma, step_weight=weight, std=std)
        torch.testing.assert_close(got, broadcast(ref_gigpo(rows, gamma, weight, std, 1e-6), rows))
        torch.testing.assert_close(returns, broadcast(ref_step_returns(rows, gamma), rows))


@pytest.mark.parametrize("seed", range(6))
def test_hgpo_matches_loop_reference(seed):
    rows = random_rows(seed)
    rewards, mask, groups, steps = rows_to_batch(rows)
    for alpha, std, weight, base in ((1.0, "group", 1.0, False), (0.0, "none", 0.0, True),
                                     (2.5, "group", 0.5, True)):
        got, _ = hgpo(rewards, mask, groups, steps=steps, gamma=0.9, alpha=alpha, std=std,
                      episode_weight=weight, base_group=base)
        want = ref_hgpo(rows, 0.9, alpha, std, weight, base, 1e-6)
        torch.testing.assert_close(got, broadcast(want, rows))


@pytest.mark.parametrize("seed", range(6))
def test_empg_matches_loop_reference(seed):
    rows = random_rows(seed)
    rewards, mask, groups, steps = rows_to_batch(rows)
    for std, sharpness, coef in (("group", 1.0, 0.1), ("none", 3.0, 0.5)):
        got, returns = empg(rewards, mask, groups, steps=steps, std=std, sharpness=sharpness,
                            clarity_coef=coef)
        torch.testing.assert_close(got, broadcast(ref_empg(rows, std, sharpness, coef, 1e-6), rows))
        torch.testing.assert_close(returns, broadcast(ref_episode_advantage(rows, std, 1e-6)[1], rows))


@pytest.mark.parametrize("seed", range(4))
def test_episode_level_matches_loop_reference(seed):
    rows = random_rows(seed)
    rewards, mask, groups, steps = rows_to_batch(rows)
    for std in ("group", "none"):
        estimator = functools.partial(adv.grpo, std=std)
        got, _ = episode_level(rewards, mask, groups, steps=steps, estimator=estimator)
        torch.testing.assert_close(got, broadcast(ref_episode_advantage(rows, std, 1e-6)[0], rows))


@pytest.mark.parametrize("estimator", [gigpo, hgpo, empg], ids=lambda f: f.__name__)
def test_zero_off_action_tokens_and_finite(estimator):
    for seed in range(5):
        rewards, mask, groups, steps = random_step_batch(seed + 10)
        advantages, returns = estimator(rewards, mask, groups, steps=steps)
        assert torch.isfinite(advantages).all() and torch.isfinite(returns).all()
        assert torch.all(advantages[~mask] == 0) and torch.all(returns[~mask] == 0)


# ---- StepInfo, ids, errors, configs ---------------------------------------------------------

def test_state_and_context_ids():
    assert state_id("kitchen") == -1784721904243062096  # stable across processes and runs
    ids = context_ids(["s0", "s1", "s2"], history=2, actions=["go", "open", "take"])
    assert [row[0] for row in ids] == [state_id("s0"), state_id("s1"), state_id("s2")]
    assert ids[0] == [state_id("s0")] * 3  # no history yet: every level is the state alone
    assert ids[2][1] != ids[2][2] != ids[2][0] and ids[1][1] == ids[1][2]
    same_states_other_action = context_ids(["s0", "s1", "s2"], 2, ["go", "look", "take"])
    assert same_states_other_action[2][0] == ids[2][0] and same_states_other_action[2][1] != ids[2][1]
    assert context_ids(["a", "b"], 1) == [[state_id("a")] * 2, [state_id("b"), state_id("a\x1eb")]]


def test_step_info_checks_and_pickles():
    steps = pickle.loads(pickle.dumps(STEPS))
    assert torch.equal(steps.context_ids, STEPS.context_ids)
    with pytest.raises(ValueError, match=r"\(B,\)"):
        StepInfo(torch.zeros(3), torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="context_ids"):
        StepInfo(torch.zeros(3), torch.zeros(3), torch.zeros(3), context_ids=torch.zeros(3))
    with pytest.raises(ValueError, match="rows"):
        gigpo(REWARDS[:2], MASK[:2], GROUPS[:2], steps=STEPS)
    duplicate = StepInfo(torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([0, 0]))
    with pytest.raises(ValueError, match="same"):
        gigpo(torch.zeros(2, 1), torch.ones(2, 1), torch.tensor([0, 0]), steps=duplicate)
    without = StepInfo(STEPS.episode_ids, STEPS.step_ids, STEPS.anchor_ids)
    with pytest.raises(ValueError, match="context_ids"):
        hgpo(REWARDS, MASK, GROUPS, steps=without)
    with pytest.raises(ValueError, match="entropy"):
        empg(REWARDS, MASK, GROUPS, steps=without)


@pytest.mark.parametrize("name", ["gigpo", "hgpo", "empg"])
def test_yaml_instantiates_validates_and_runs(name):
    node = OmegaConf.load(CONF / f"{name}.yaml")
    pytest.importorskip("rlx.config.validate").validate(OmegaConf.to_container(node))
    estimator = hydra.utils.instantiate(node)
    assert needs_steps(estimator) and not adv.needs_values(estimator)
    rewards, mask, groups, steps = random_step_batch(seed=21)
    advantages, returns = estimator(rewards, mask, groups, steps=steps)
    assert advantages.shape == returns.shape == mask.shape
    assert torch.isfinite(advantages).all() and torch.all(advantages[~mask] == 0)
    assert advantages.abs().sum() > 0
    assert not needs_steps(adv.grpo) and needs_steps(functools.partial(episode_level, estimator=adv.grpo))

