"""HiMAC's hierarchical group-relative advantages and co-evolution schedule."""

import random
import statistics

import pytest
import torch

from rlx.algos.himac import himac, phase
from rlx.algos.step_advantages import StepInfo, needs_steps

T = 2


def rows(groups, iteration=0, order=None):
    """groups: per group, per blueprint, per execution the list of step rewards. Each blueprint
    is a planner row (step 0, reward 0) of its first execution; execution steps have step ids
    1, 2, ... and executor tokens only. Returns the estimator's arguments and the row keys."""
    keys = []  # (group, episode, blueprint, is_planner_row, reward)
    for g, blueprints in enumerate(groups):
        e = 0
        for b, executions in enumerate(blueprints):
            for x, step_rewards in enumerate(executions):
                if x == 0:
                    keys.append((g, e, b, 0, True, 0.0))
                keys += [(g, e, b, s + 1, False, r) for s, r in enumerate(step_rewards)]
                e += 1
    if order is not None:
        keys = [keys[i] for i in order]
    n = len(keys)
    rewards = torch.zeros(n, T, dtype=torch.float64)
    rewards[:, -1] = torch.tensor([k[5] for k in keys], dtype=torch.float64)
    planner = torch.tensor([k[4] for k in keys])[:, None].expand(n, T).clone()
    steps = StepInfo(episode_ids=torch.tensor([k[1] for k in keys]),
                     step_ids=torch.tensor([k[3] for k in keys]),
                     anchor_ids=torch.zeros(n, dtype=torch.long), planner_mask=planner,
                     blueprint_ids=torch.tensor([k[2] for k in keys]), iteration=iteration)
    return (rewards, torch.ones(n, T, dtype=torch.bool), torch.tensor([k[0] for k in keys])), steps, keys


def test_literal_values_two_blueprints_two_executions_each():
    # blueprint 0: executions return 1 and 0; blueprint 1: 1 and 1 (two steps 0.5 + 0.5)
    args, steps, keys = rows([[[[1.0], [0.0]], [[0.5, 0.5], [1.0]]]])
    adv, ret = himac(*args, steps=steps, std="none", schedule="joint")
    by_row = adv[:, 0].tolist()
    planner = [a for a, k in zip(by_row, keys) if k[4]]
    assert planner == pytest.approx([-0.25, 0.25])  # S = (0.5, 1.0), group mean 0.75
    executor = {(k[1], k[3]): a for a, k in zip(by_row, keys) if not k[4]}
    assert executor == pytest.approx({(0, 1): 0.5, (1, 1): -0.5, (2, 1): 0.0, (2, 2): 0.0,
                                      (3, 1): 0.0})
    assert ret[0, 0].item() == 0.5  # the blueprint row carries its blueprint's score
    adv, _ = himac(*args, steps=steps, std="group", schedule="joint")
    s = 2 ** -0.5  # unbiased std of (0.5, 1.0) is 0.3536; of (1, 0) it is 0.7071
    assert adv[0, 0].item() == pytest.approx(-0.25 / (0.25 * 2 ** 0.5 + 1e-6))
    assert adv[1, 0].item() == pytest.approx(0.5 / (s + 1e-6))


def test_identical_trajectories_give_zero_advantages():
    args, steps, _ = rows([[[[0.0, 1.0]] * 2] * 3, [[[1.0]] * 2] * 2])
    adv, _ = himac(*args, steps=steps, schedule="joint")
    assert torch.equal(adv, torch.zeros_like(adv))


def test_one_blueprint_per_group_and_one_execution_per_blueprint_give_zero():
    args, steps, keys = rows([[[[1.0], [0.0], [0.5]]]])  # one blueprint: no planner comparison
    adv, _ = himac(*args, steps=steps, std="none", schedule="joint")
    assert adv[0, 0] == 0 and adv[1, 0].item() == pytest.approx(0.5)
    args, steps, keys = rows([[[[1.0]], [[0.0]]]])  # one execution each: no executor comparison
    adv, _ = himac(*args, steps=steps, std="none", schedule="joint")
    assert [a for a, k in zip(adv[:, 0].tolist(), keys) if not k[4]] == [0.0, 0.0]
    assert [a for a, k in zip(adv[:, 0].tolist(), keys) if k[4]] == pytest.approx([0.5, -0.5])


def test_schedule_alternates_planner_and_executor_phases():
    assert [phase(i, "alternate", 2, 1) for i in range(6)] == [
        "planner", "planner", "executor", "planner", "planner", "executor"]
    assert phase(7, "joint", 2, 1) == "both"
    with pytest.raises(ValueError, match="planner_iters"):
        phase(0, "alternate", 0, 1)
    groups = [[[[1.0], [0.0]], [[1.0], [1.0]]]]
    args, steps, keys = rows(groups, iteration=0)
    planner_rows = torch.tensor([k[4] for k in keys])
    adv, _ = himac(*args, steps=steps, schedule="alternate", planner_iters=1, executor_iters=1)
    assert adv[~planner_rows].abs().sum() == 0 and adv[planner_rows].abs().sum() > 0
    args, steps, _ = rows(groups, iteration=1)
    adv, _ = himac(*args, steps=steps, schedule="alternate", planner_iters=1, executor_iters=1)
    assert adv[planner_rows].abs().sum() == 0 and adv[~planner_rows].abs().sum() > 0


def reference(groups, std):
    """Slow loop: {(g, e): (A_plan of its blueprint, A_exec)} from the definitions."""
    def norm(x, xs):
        mean = statistics.fmean(xs)
        spread = statistics.stdev(xs) + 1e-6 if std == "group" and len(xs) > 1 else 1.0
        return 0.0 if len(xs) < 2 else (x - mean) / spread

    out = {}
    for g, blueprints in enumerate(groups):
        scores = [statistics.fmean(sum(x) for x in b) for b in blueprints]
        e = 0
        for b, executions in enumerate(blueprints):
            totals = [sum(x) for x in executions]
            for t in totals:
                out[(g, e)] = (norm(scores[b], scores), norm(t, totals))
                e += 1
    return out


@pytest.mark.parametrize("seed", range(4))
def test_tensor_code_matches_the_slow_reference(seed):
    gen = random.Random(seed)
    groups = [[[[gen.choice([0.0, 1.0, gen.random()]) for _ in range(gen.randint(1, 3))]
                for _ in range(gen.randint(1, 3))] for _ in range(gen.randint(1, 3))]
              for _ in range(gen.randint(1, 3))]
    args, steps, keys = rows(groups)
    order = list(range(len(keys)))
    gen.shuffle(order)
    args, steps, keys = rows(groups, order=order)
    std = gen.choice(["group", "none"])
    adv, _ = himac(*args, steps=steps, std=std, schedule="joint")
    expected = reference(groups, std)
    for a, k in zip(adv[:, 0].tolist(), keys):
        plan, execute = expected[(k[0], k[1])]
        assert a == pytest.approx(plan if k[4] else execute, abs=1e-9)


def test_needs_blueprints():
    assert needs_steps(himac)
    args, steps, _ = rows([[[[1.0]]]])
    bare = StepInfo(steps.episode_ids, steps.step_ids, steps.anchor_ids)
    with pytest.raises(ValueError, match="blueprint_ids"):
        himac(*args, steps=bare)


def test_a_blueprint_rows_own_reward_scores_the_blueprint_not_its_first_execution():
    args, steps, keys = rows([[[[1.0], [0.0]], [[1.0], [1.0]]]])
    rewards = args[0].clone()
    rewards[0, -1] = -0.1  # e.g. the format penalty of a malformed blueprint
    adv, _ = himac(rewards, *args[1:], steps=steps, std="none", schedule="joint")
    planner = [a for a, k in zip(adv[:, 0].tolist(), keys) if k[4]]
    assert planner == pytest.approx([-0.3, 0.3])  # S = (0.4, 1.0)
    executor = [a for a, k in zip(adv[:, 0].tolist(), keys) if not k[4]]
    assert executor == pytest.approx([0.5, -0.5, 0.0, 0.0])
