"""SALT (rlx.algos.salt): literal values, the reductions, a slow reference loop, the config."""

import functools
import math
import random
import statistics
from collections import defaultdict

import hydra.utils
import pytest
import torch
from omegaconf import OmegaConf

from rlx.algos import advantages as adv
from rlx.algos.salt import salt
from rlx.algos.step_advantages import StepInfo, episode_level, gigpo, needs_steps
from rlx.config.compose import check_overrides
from rlx.config.validate import ConfigError

T = 3
GRPO = functools.partial(adv.grpo, eps=0.0)
R3 = math.sqrt(3.0)
R2 = math.sqrt(2.0)


def episode(group, ep, anchors, final_reward, masks=None):
    """Rows of one episode visiting `anchors` in order; the reward sits on the last step."""
    masks = masks or [(1, 1, 0)] * len(anchors)
    return [dict(name=f"{group}/{ep}/{t}", group=group, episode=ep, step=t, anchor=a,
                 reward=final_reward if t == len(anchors) - 1 else 0.0, mask=masks[t])
            for t, a in enumerate(anchors)]


def to_batch(rows):
    mask = torch.tensor([r["mask"] for r in rows], dtype=torch.bool)
    rewards = torch.zeros(mask.shape, dtype=torch.float64)
    for i, r in enumerate(rows):
        acting = mask[i].nonzero()
        if len(acting):
            rewards[i, acting[-1]] = r["reward"]
        off = (~mask[i]).nonzero()
        if len(off):
            rewards[i, off[0]] = 9.0  # an observation token's reward: must be ignored
    steps = StepInfo(torch.tensor([r["episode"] for r in rows]), torch.tensor([r["step"] for r in rows]),
                     torch.tensor([r["anchor"] for r in rows]))
    return rewards, mask, torch.tensor([r["group"] for r in rows]), steps


def per_row(rows, advantages, mask):
    out = {}
    for i, r in enumerate(rows):
        assert torch.all(advantages[i][~mask[i]] == 0)
        on = advantages[i][mask[i]]
        if len(on):
            assert torch.allclose(on, on[0].expand_as(on))
        out[r["name"]] = on[0].item() if len(on) else 0.0
    return out


def run_salt(rows, **kwargs):
    rewards, mask, groups, steps = to_batch(rows)
    advantages, returns = salt(rewards, mask, groups, steps=steps, **{"base": GRPO, **kwargs})
    return per_row(rows, advantages, mask), per_row(rows, returns, mask)


def shuffled(rows, seed=0):
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return rows


# Group 5: A wins 10 -> 11 -> 12 -> end(1); B fails 10 -> 11 -> 13 -> end(0); C fails 10 -> 14.
# Group 9 walks the same anchors but is another task: it must not mix with group 5.
SHARED_PREFIX = [*episode(5, 0, [10, 11, 12], 1.0), *episode(5, 1, [10, 11, 13], 0.0),
                 *episode(5, 2, [10, 14], 0.0), *episode(9, 0, [10, 11], 1.0)]


def test_shared_prefix_by_hand():
    # Returns A 1, B 0, C 0: mean 1/3, unbiased std sqrt(1/3) -> A^E: A 2/sqrt3, B = C = -1/sqrt3.
    # Edge 10 -> 11 holds A and B: (2 - 1) / (2 sqrt3). Every other edge holds one trajectory
    # (B1 leaves the shared state 11 for 13, A1 for 12: shared state, distinct edges).
    # Group 9 has one episode: GRPO gives 0.
    got, returns = run_salt(shuffled(SHARED_PREFIX))
    a, b = 2 / R3, -1 / R3
    expected = {"5/0/0": (a + b) / 2, "5/1/0": (a + b) / 2, "5/0/1": a, "5/0/2": a,
                "5/1/1": b, "5/1/2": b, "5/2/0": b, "5/2/1": b, "9/0/0": 0.0, "9/0/1": 0.0}
    assert got == pytest.approx(expected, abs=1e-12)
    assert returns["5/0/1"] == 1.0 and returns["5/2/0"] == 0.0  # the base's returns (R)


def test_loops_count_each_trajectory_once_and_terminal_edges_split_by_outcome():
    # D: 10 -> 11 -> 10 -> 11 -> end(0) passes 10 -> 11 twice; E: 10 -> 11 -> end(1).
    # A^E: D -1/sqrt2, E 1/sqrt2. Edge 10 -> 11: trajectories D and E, once each -> 0
    # (counting rows would give -1 / (3 sqrt2)). 11 -> end(0) and 11 -> end(1) are different
    # edges: the last moves from state 11 differ in outcome.
    rows = [*episode(3, 0, [10, 11, 10, 11], 0.0), *episode(3, 1, [10, 11], 1.0)]
    got, _ = run_salt(shuffled(rows, 1))
    assert got == pytest.approx({"3/0/0": 0.0, "3/0/1": -1 / R2, "3/0/2": 0.0, "3/0/3": -1 / R2,
                                 "3/1/0": 0.0, "3/1/1": 1 / R2}, abs=1e-12)


def test_singleton_states_reduce_to_the_base_estimator():
    # Every anchor distinct: every edge holds one trajectory, so SALT is the base estimator on
    # the episode returns, broadcast to the episode's steps (what advantage=<base> trains on).
    rows = [dict(r, anchor=100 + i) for i, r in enumerate(SHARED_PREFIX)]
    rewards, mask, groups, steps = to_batch(rows)
    for base in (GRPO, functools.partial(adv.rloo), functools.partial(adv.grpo, std="none")):
        got, _ = salt(rewards, mask, groups, steps=steps, base=base)
        want, _ = episode_level(rewards, mask, groups, steps=steps, estimator=base)
        assert torch.equal(got, want)
    got, _ = run_salt(rows)
    assert got["5/0/0"] == pytest.approx(2 / R3) and got["5/2/1"] == pytest.approx(-1 / R3)


def test_identical_trajectories_give_zero_with_grpo():
    rows = [r for e in range(4) for r in episode(2, e, [10, 11, 12], 1.0)]
    rewards, mask, groups, steps = to_batch(rows)
    for base in (GRPO, functools.partial(adv.rloo)):
        got, _ = salt(rewards, mask, groups, steps=steps, base=base)
        assert torch.count_nonzero(got) == 0


def test_graph_weight_interpolates_between_the_base_and_salt():
    a, b = 2 / R3, -1 / R3
    base, _ = run_salt(SHARED_PREFIX, graph_weight=0.0)
    half, _ = run_salt(SHARED_PREFIX, graph_weight=0.5)
    assert base["5/0/0"] == pytest.approx(a) and base["5/1/0"] == pytest.approx(b)
    assert half["5/0/0"] == pytest.approx(a + 0.5 * ((a + b) / 2 - a))
    assert half["5/0/1"] == pytest.approx(a)  # a singleton edge is the base at any weight


def test_rows_without_action_tokens_do_not_dilute_an_edge():
    # X (an episode cut by a crashed worker: no action tokens) walks the shared edge too. GRPO
    # counts its return 0 (the base's rule); the edge score averages A and B only.
    rows = [*episode(5, 0, [10, 11], 1.0), *episode(5, 1, [10, 12], 0.0),
            *episode(5, 2, [10, 11], 0.0, masks=[(0, 0, 0), (0, 0, 0)])]
    got, _ = run_salt(rows)
    a, b = 2 / R3, -1 / R3  # returns 1, 0, 0
    assert got["5/0/0"] == pytest.approx(a)  # edge 10 -> 11 holds A only (X does not count)
    assert got["5/1/0"] == pytest.approx(b) and got["5/2/0"] == 0.0 and got["5/2/1"] == 0.0


def test_a_step_level_base_is_averaged_per_row():
    # base = GiGPO: its per-row advantages are what each step inherits.
    rewards, mask, groups, steps = to_batch(SHARED_PREFIX)
    base = functools.partial(gigpo, gamma=0.5, eps=0.0)
    got, _ = salt(rewards, mask, groups, steps=steps, base=base)
    inherited, _ = base(rewards, mask, groups, steps=steps)
    a0, b0 = inherited[0, 0].item(), inherited[3, 0].item()  # rows 5/0/0 and 5/1/0
    assert got[0, 0].item() == pytest.approx((a0 + b0) / 2) and got[3, 0].item() == pytest.approx((a0 + b0) / 2)
    assert torch.equal(got[1], inherited[1])  # 5/0/1: its own edge


def test_bad_bases_are_refused():
    rewards, mask, groups, steps = to_batch(SHARED_PREFIX)
    with pytest.raises(ValueError, match="critic-free"):
        salt(rewards, mask, groups, steps=steps, base=functools.partial(adv.gae))
    with pytest.raises(TypeError, match="advantage@advantage.base"):
        salt(rewards, mask, groups, steps=steps, base="rloo")


# ---- the tensor code vs a slow reference loop on random episodes ----


def random_rows(seed, n_groups=3, group_size=4, n_states=4, max_len=5):
    """Random walks over a few states (so states and edges are shared), ragged masks (some
    rows without action tokens), random rewards on random steps, a step-id gap, any order."""
    rng = random.Random(seed)
    rows = []
    for g in rng.sample(range(-50, 50), n_groups):
        for e in range(group_size):
            length = rng.randint(1, max_len)
            state = 0
            step = 0
            for _ in range(length):
                mask = tuple(rng.random() < 0.7 for _ in range(T))
                rows.append(dict(name=f"{g}/{e}/{step}", group=g, episode=e * 3 + 1, step=step,
                                 anchor=1000 + state, mask=mask,
                                 reward=rng.choice([0.0, 0.0, 1.0, -0.1, 0.5])))
                state = rng.randrange(n_states)
                step += rng.choice([1, 1, 1, 2])
    rng.shuffle(rows)
    return rows


def reference_grpo_rows(rows, scores, eps=1e-6, std=True):
    """Per-row GRPO advantage of the row's episode (each episode's return counted once)."""
    totals = defaultdict(float)
    for r, s in zip(rows, scores):
        totals[(r["group"], r["episode"])] += s
    by_group = defaultdict(list)
    for (g, e), total in totals.items():
        by_group[g].append(total)
    out = []
    for r in rows:
        values = by_group[r["group"]]
        centred = totals[(r["group"], r["episode"])] - statistics.fmean(values)
        scale = (statistics.stdev(values) if len(values) > 1 else 0.0) + eps if std else 1.0
        out.append(centred / scale if scale > 0 else centred)
    return out


def reference_salt(rows, scores, inherited, graph_weight):
    """Per-row SALT value by loops: edges (group, s, next s or end(reward)), each edge's
    score = mean over its trajectories of the trajectory's mean inherited value there."""
    by_episode = defaultdict(list)
    for i, r in enumerate(rows):
        by_episode[(r["group"], r["episode"])].append(i)
    edge_of = {}
    for rows_of in by_episode.values():
        rows_of.sort(key=lambda i: rows[i]["step"])
        for j, i in enumerate(rows_of):
            nxt = ("state", rows[rows_of[j + 1]]["anchor"]) if j + 1 < len(rows_of) else ("end", scores[i])
            edge_of[i] = (rows[i]["group"], rows[i]["anchor"], nxt)
    visits = defaultdict(lambda: defaultdict(list))
    for i, r in enumerate(rows):
        if any(r["mask"]):
            visits[edge_of[i]][r["episode"]].append(inherited[i])
    score = {edge: statistics.fmean(statistics.fmean(v) for v in trajectories.values())
             for edge, trajectories in visits.items()}
    return [inherited[i] + graph_weight * (score.get(edge_of[i], 0.0) - inherited[i])
            if any(r["mask"]) else 0.0 for i, r in enumerate(rows)]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("graph_weight", [1.0, 0.3])
def test_matches_the_reference_loop_on_random_episodes(seed, graph_weight):
    rows = random_rows(seed)
    rewards, mask, groups, steps = to_batch(rows)
    scores = [r["reward"] if any(r["mask"]) else 0.0 for r in rows]
    for std in (True, False):
        base = functools.partial(adv.grpo, std="group" if std else "none")
        want = reference_salt(rows, scores, reference_grpo_rows(rows, scores, std=std), graph_weight)
        got, _ = salt(rewards, mask, groups, steps=steps, base=base, graph_weight=graph_weight)
        assert list(per_row(rows, got, mask).values()) == pytest.approx(want, abs=1e-9)
    # a step-level base: the reference takes GiGPO's per-row values as the inherited ones
    step_base = functools.partial(gigpo, gamma=0.9)
    inherited = list(per_row(rows, step_base(rewards, mask, groups, steps=steps)[0], mask).values())
    want = reference_salt(rows, scores, inherited, graph_weight)
    got, _ = salt(rewards, mask, groups, steps=steps, base=step_base, graph_weight=graph_weight)
    assert list(per_row(rows, got, mask).values()) == pytest.approx(want, abs=1e-9)


def test_random_episodes_do_share_edges():
    """The random fixture exercises merging (else the reference test proves little)."""
    rows = random_rows(0)
    rewards, mask, groups, steps = to_batch(rows)
    got, _ = salt(rewards, mask, groups, steps=steps, base=GRPO)
    base, _ = salt(rewards, mask, groups, steps=steps, base=GRPO, graph_weight=0.0)
    assert not torch.allclose(got, base)


# ---- the config ----


def instantiate(overrides):
    cfg = OmegaConf.to_container(check_overrides(overrides).advantage, resolve=True)
    return hydra.utils.instantiate(cfg)


def test_config_builds_salt_on_a_chosen_base():
    rewards, mask, groups, steps = to_batch(SHARED_PREFIX)
    default = instantiate(["advantage=salt"])
    assert needs_steps(default)
    got, _ = default(rewards, mask, groups, steps=steps)
    want, _ = salt(rewards, mask, groups, steps=steps, base=functools.partial(adv.grpo))
    assert torch.allclose(got, want)
    on_rloo = instantiate(["advantage=salt", "advantage@advantage.base=rloo"])
    got, _ = on_rloo(rewards, mask, groups, steps=steps)
    want, _ = salt(rewards, mask, groups, steps=steps, base=functools.partial(adv.rloo))
    assert torch.equal(got, want)


def test_config_typos_name_the_key():
    with pytest.raises(ConfigError, match="advantage@advantage.base=rloo"):
        check_overrides(["advantage=salt", "advantage.base=rloo"])
    with pytest.raises(ConfigError, match='unknown advantage "rlo".*did you mean "rloo"'):
        check_overrides(["advantage=salt", "advantage@advantage.base=rlo"])
    with pytest.raises(ConfigError, match="graph_weigth"):
        check_overrides(["advantage=salt", "advantage.graph_weigth=0.5"])

