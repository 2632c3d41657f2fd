"""D^3S: max-variance subsets (checked against brute force), token selection, schedule."""

import itertools
import math
import random

import pytest
import torch

from rlx.curriculum.base import TrainingSelector
from rlx.curriculum.d3s import (D3SCurriculum, keep_schedule, max_variance_subset, top_fraction_mask,
                                unit_advantages)
from tests.curriculum.fakes import tasks


def population_var(values):
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values)


def brute_force_best(values, k):
    return max(population_var([values[i] for i in c]) for c in itertools.combinations(range(len(values)), k))


def test_max_variance_subset_literal():
    values = torch.tensor([0.0, 1.0, 2.0, 3.0, 10.0])
    assert max_variance_subset(values, 2).tolist() == [0, 4]
    # {0,1,10}: 20.22, {0,3,10}: 17.56, {2,3,10}: 12.67, {0,1,2}: 0.67
    assert max_variance_subset(values, 3).tolist() == [0, 1, 4]
    assert max_variance_subset(values, 5).tolist() == [0, 1, 2, 3, 4]
    # binary outcomes (GRPO advantages +-1): one of each side
    picked = max_variance_subset(torch.tensor([1.0, 1.0, 1.0, -1.0, -1.0, -1.0]), 2)
    assert sorted(torch.tensor([1.0, 1.0, 1.0, -1.0, -1.0, -1.0])[picked].tolist()) == [-1.0, 1.0]


def test_max_variance_subset_matches_brute_force():
    rng = random.Random(0)
    for _ in range(200):
        g = rng.randint(2, 8)
        values = [rng.choice([rng.gauss(0, 1), float(rng.randint(-2, 2))]) for _ in range(g)]
        k = rng.randint(1, g)
        picked = max_variance_subset(torch.tensor(values, dtype=torch.float64), k).tolist()
        assert len(set(picked)) == k
        assert math.isclose(population_var([values[i] for i in picked]), brute_force_best(values, k),
                            rel_tol=1e-9, abs_tol=1e-12)


def test_top_fraction_mask_keeps_the_highest_scores_among_masked():
    scores = torch.tensor([[0.1, 0.5, 0.3, 9.0], [0.9, 0.2, 0.0, 0.4]])
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    # 7 masked positions: ceil(0.5 * 7) = 4 highest: 0.9, 0.5, 0.4, 0.3 (9.0 is not an action)
    assert top_fraction_mask(scores, mask, 0.5).tolist() == [[False, True, True, False],
                                                             [True, False, False, True]]
    assert top_fraction_mask(scores, mask, 1.0).tolist() == mask.tolist()
    assert top_fraction_mask(scores, mask, 0.01).sum() == 1


def test_schedule_relaxes_linearly_to_everything():
    assert keep_schedule(0, 10, start=0.5, until=0.8) == 0.5
    assert keep_schedule(4, 10, start=0.5, until=0.8) == 0.75
    assert keep_schedule(8, 10, start=0.5, until=0.8) == 1.0
    assert keep_schedule(9, 10, start=0.5, until=0.8) == 1.0
    assert keep_schedule(3, 10, start=0.2, until=1.0) == pytest.approx(0.44)


def test_unit_advantages_average_each_episode_over_its_action_tokens():
    adv = torch.tensor([[0.0, 2.0, 2.0], [0.0, 5.0, 0.0], [0.0, -1.0, -1.0]])
    mask = torch.tensor([[False, True, True], [False, True, False], [False, True, True]])
    assert unit_advantages(adv, mask, torch.tensor([0, 0, 1])).tolist() == [3.0, -1.0]


def test_select_keeps_the_max_variance_rollouts_and_top_tokens():
    d3s = D3SCurriculum(tasks(4), seed=0, total_iters=10, sample_keep=0.5, token_keep=0.5, until=0.8)
    assert isinstance(d3s, TrainingSelector)
    row_adv = torch.tensor([1.0, 0.5, -0.5, -1.0, 2.0, 0.0, 0.0, 0.1])   # 2 groups of 4
    mask = torch.tensor([[False, True, True]] * 8)
    adv = row_adv[:, None] * mask
    entropy = torch.tensor([[0.0, 1.0, 2.0]] * 8)
    rows, tokens, stats = d3s.select(adv, mask, torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]),
                                     torch.arange(8), entropy)
    assert rows.tolist() == [True, False, False, True, True, True, False, False]
    # kept rows' |A| x H: row0 1, 2; row3 1, 2; row4 2, 4; row5 0, 0 -> top ceil(0.5 * 8) = 4 tokens
    assert tokens.nonzero().tolist() == [[0, 2], [3, 2], [4, 1], [4, 2]]
    assert stats == {"curriculum/kept_sample_frac": 0.5, "curriculum/kept_token_frac": 4 / 16,
                     "curriculum/sample_keep": 0.5, "curriculum/token_keep": 0.5}


def test_update_advances_the_schedule_and_state_round_trips():
    d3s = D3SCurriculum(tasks(4), seed=0, total_iters=5, sample_keep=0.2, token_keep=0.6, until=1.0)
    assert d3s.fractions() == (0.2, 0.6)
    d3s.sample(2)
    d3s.update([], [])
    d3s.update([], [])
    assert d3s.fractions() == pytest.approx((0.52, 0.76))
    other = D3SCurriculum(tasks(4), seed=0, total_iters=5, sample_keep=0.2, token_keep=0.6, until=1.0)
    other.load_state_dict(d3s.state_dict())
    assert other.fractions() == d3s.fractions()
    assert [t.uid for t in other.sample(2)] == [t.uid for t in d3s.sample(2)]


def test_bad_fraction_names_the_key():
    with pytest.raises(ValueError, match="curriculum.token_keep"):
        D3SCurriculum(tasks(2), seed=0, total_iters=5, token_keep=0.0)
