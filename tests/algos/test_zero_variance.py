"""Issue 11 item 2: a group whose members are all equal gets exactly 0 advantage, in float32
as in float64, for rewards that binary floating point cannot represent (0.1, 0.3, 0.7, 1.1:
what the format / invalid_action shaping terms produce). Every std-dividing normaliser."""

from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from rlx.algos.normalize import normalize
from rlx.algos.step_advantages import StepInfo
from rlx.reward.combine import combine_rewards, group_variance

CONF = Path(__file__).resolve().parents[2] / "conf"
REWARDS = [0.1, 0.3, 0.7, 1.1]
SIZES = [2, 8, 16]
DTYPES = [torch.float32, torch.float64]
CASES = [(r, g, d) for r in REWARDS for g in SIZES for d in DTYPES]
IDS = [f"r{r}-G{g}-{str(d)[6:]}" for r, g, d in CASES]


def load(group: str, name: str, **overrides):
    node = OmegaConf.load(CONF / group / f"{name}.yaml")
    node.merge_with(overrides)
    return hydra.utils.instantiate(node)


def outcome_batch(reward: float, size: int, dtype, other: float | None):
    """`size` rollouts of reward `reward` (group 7), then `size` of `other` (group 9) if given;
    ragged responses (rows of 1..4 action tokens after a 2-token prompt), the outcome on the
    last action token."""
    values = [reward] * size + ([] if other is None else [other] * size)
    groups = [7] * size + ([] if other is None else [9] * size)
    rows, tokens = len(values), 6
    mask = torch.zeros(rows, tokens, dtype=torch.bool)
    rewards = torch.zeros(rows, tokens, dtype=dtype)
    for i, value in enumerate(values):
        length = 1 + i % 4
        mask[i, 2:2 + length] = True
        rewards[i, 1 + length] = value
    return rewards, mask, torch.tensor(groups)


def other_of(reward: float) -> float:
    return REWARDS[(REWARDS.index(reward) + 1) % len(REWARDS)]


def test_today_float32_mean_is_an_ulp_off():
    # Why the test exists: the plain float32 mean of eight 0.7s is not 0.7.
    x = torch.full((8,), 0.7, dtype=torch.float32)
    assert float((x.sum() / 8 - x[0]).abs()) > 0
    from rlx.algos.normalize import moments

    mean, var = moments(x, None, torch.zeros(8, dtype=torch.long), "group")
    assert torch.equal(mean, x) and torch.equal(var, torch.zeros(8))


@pytest.mark.parametrize(("reward", "size", "dtype"), CASES, ids=IDS)
@pytest.mark.parametrize("scope", ["group", "batch"])
def test_normalize_equal_members_exact(reward, size, dtype, scope):
    x = torch.full((size,), reward, dtype=dtype)
    groups = torch.zeros(size, dtype=torch.long)
    for eps in (1e-6, 0.0):
        assert torch.equal(normalize(x, None, groups, mean=scope, std=scope, eps=eps),
                           torch.zeros_like(x))
    # token values (B, T) under a ragged mask, two groups each constant: group scope
    tokens = torch.full((size, 5), reward, dtype=dtype)
    mask = torch.arange(5)[None, :] < (1 + torch.arange(size) % 5)[:, None]
    ids = torch.arange(size) % 2
    tokens[ids == 1] = other_of(reward)
    out = normalize(tokens, mask, ids, mean="group", std=scope)
    assert torch.equal(out, torch.zeros_like(out))


# (advantage yaml, overrides, two groups of different constants?)
ESTIMATORS = [("grpo", {}, True), ("lite_ppo", {}, True), ("dr_grpo", {}, True),
              ("reinforce_pp", {"gamma": 1.0}, False),
              ("reinforce_pp_baseline", {}, True), ("gae", {}, False)]


@pytest.mark.parametrize(("reward", "size", "dtype"), CASES, ids=IDS)
@pytest.mark.parametrize(("name", "overrides", "two_groups"), ESTIMATORS,
                         ids=[f"{n}{o or ''}" for n, o, _ in ESTIMATORS])
def test_episode_estimators_zero_for_equal_groups(reward, size, dtype, name, overrides,
                                                  two_groups):
    rewards, mask, groups = outcome_batch(reward, size, dtype, other_of(reward) if two_groups
                                          else None)
    estimator = load("advantage", name, **overrides)
    values = torch.zeros_like(rewards) if name == "gae" else None
    if name == "gae":  # GAE with V = 0 and one reward: raw A is the return; one value per row
        mask[:] = False
        mask[:, 2] = True
        rewards.zero_()
        rewards[:, 2] = reward
    advantages, _ = estimator(rewards, mask, groups, values)
    assert torch.equal(advantages, torch.zeros_like(advantages)), advantages.abs().max()


def step_batch(reward: float, size: int, dtype):
    """`size` episodes of one task, each of 3 steps rewarded `reward`, the same states (anchor
    and context keys per step index): every episode and every step group has equal members."""
    episodes = torch.arange(size).repeat_interleave(3)
    step_ids = torch.arange(3).repeat(size)
    rewards = torch.zeros(3 * size, 2, dtype=dtype)
    rewards[:, 1] = reward
    mask = torch.ones(3 * size, 2, dtype=torch.bool)
    anchors = 100 + step_ids
    contexts = torch.stack([anchors, 200 + step_ids], dim=1)
    steps = StepInfo(episodes, step_ids, anchors, context_ids=contexts,
                     entropy=torch.full((3 * size,), 0.5, dtype=dtype))
    return rewards, mask, torch.full((3 * size,), 4), steps


STEP_ESTIMATORS = [("gigpo", {}), ("hgpo", {}), ("hgpo", {"base_group": True}),
                   ("empg", {"clarity_coef": 0.0})]


@pytest.mark.parametrize(("reward", "size", "dtype"), CASES, ids=IDS)
@pytest.mark.parametrize(("name", "overrides"), STEP_ESTIMATORS,
                         ids=[f"{n}{o or ''}" for n, o in STEP_ESTIMATORS])
def test_step_estimators_zero_for_equal_groups(reward, size, dtype, name, overrides):
    rewards, mask, groups, steps = step_batch(reward, size, dtype)
    advantages, _ = load("advantage", name, **overrides)(rewards, mask, groups, steps=steps)
    assert torch.equal(advantages, torch.zeros_like(advantages)), advantages.abs().max()


@pytest.mark.parametrize(("reward", "size", "dtype"), CASES, ids=IDS)
@pytest.mark.parametrize("name", ["normalize_then_sum", "dvao"])
def test_group_stat_combiners_zero_for_equal_groups(reward, size, dtype, name):
    groups = torch.tensor([7] * size + [9] * size)
    task = torch.tensor([reward] * size + [other_of(reward)] * size, dtype=dtype)
    shaping = torch.tensor([other_of(other_of(reward))] * 2 * size, dtype=dtype)
    combine = load("reward_combine", name)
    combined = combine_rewards(combine, {"task": task, "format": shaping}, groups)
    assert torch.equal(combined, torch.zeros_like(combined))
    assert torch.equal(group_variance(task, groups), torch.zeros_like(task))
    # one component that varies: DVAO gives the constant one weight exactly 0
    varying = torch.arange(2 * size, dtype=dtype) % 2
    alone = combine_rewards(combine, {"task": varying}, groups)
    both = combine_rewards(combine, {"task": varying, "format": shaping}, groups)
    assert torch.equal(both, alone)
