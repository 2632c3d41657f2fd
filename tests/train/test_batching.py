"""Group-level batch operations: outcomes per group, concatenating rounds, keeping groups,
dynamic-sampling refills and dropping rows/tokens of a training batch."""

import math

import pytest
import torch

from rlx.train.batching import (apply_selection, concat_batches, filtered_rollouts, group_outcomes,
                                group_rewards, merge_stats, select_training_data, take_groups)
from rlx.train.rollout import rollout_metrics
from rlx.train.update import TrainBatch
from tests.curriculum.fakes import multi_turn_batch, single_turn_batch, tasks


def test_group_outcomes_single_turn_are_the_row_scores():
    batch = single_turn_batch(tasks(2), [[1.0, 0.0], [0.0, 0.0]])
    group_tasks, scores = group_outcomes(batch, 2)
    assert [t.uid for t in group_tasks] == ["t0", "t1"]
    assert [s.correct for s in scores] == [True, False, False, False]


def test_group_outcomes_multi_turn_are_one_score_per_episode():
    batch = multi_turn_batch(tasks(2), steps=[[2, 1], [3, 2]], won=[[True, False], [False, True]])
    assert len(batch.scores) == 8  # one per step row
    group_tasks, scores = group_outcomes(batch, 2)
    assert [t.uid for t in group_tasks] == ["t0", "t1"]
    assert [(s.reward, s.correct) for s in scores] == [(1.0, True), (0.0, False), (0.0, False), (1.0, True)]
    assert group_rewards(batch, 2).tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_merge_stats_adds_totals_and_averages_the_rest():
    merged = merge_stats([
        {"perf/generation_s": 1.0, "perf/generation_tokens": 10.0, "perf/generation_tokens_per_s": 10.0,
         "perf/time/score": 0.5, "env/success_rate": 0.25},
        {"perf/generation_s": 3.0, "perf/generation_tokens": 30.0, "perf/generation_tokens_per_s": 10.0,
         "perf/time/score": 0.25, "env/success_rate": 0.75},
    ])
    assert merged == {"perf/generation_s": 4.0, "perf/generation_tokens": 40.0,
                      "perf/generation_tokens_per_s": 10.0, "perf/time/score": 0.75,
                      "env/success_rate": 0.5}


def test_concat_single_turn_offsets_groups_and_pads_columns():
    a = single_turn_batch(tasks(2, "a"), [[1, 0], [0, 0]], width=3, stats={"perf/generation_s": 1.0})
    b = single_turn_batch(tasks(1, "b"), [[1, 1]], width=5, stats={"perf/generation_s": 2.0})
    out = concat_batches([a, b], pad_id=-7)
    assert out.group_ids.tolist() == [0, 0, 1, 1, 2, 2]
    assert out.input_ids.shape == (6, 5)
    assert out.input_ids[0].tolist() == [1, 1, 1, -7, -7]
    assert out.attention_mask[0].tolist() == [1, 1, 1, 0, 0]
    assert out.action_mask[0].tolist() == [False, True, True, False, False]
    assert out.seq_rewards.tolist() == [1, 0, 0, 0, 1, 1]
    assert [t.uid for t in out.tasks] == ["a0", "a0", "a1", "a1", "b0", "b0"]
    assert out.stats == {"perf/generation_s": 3.0}
    assert out.episode_ids is None and out.step_ids is None


def test_concat_multi_turn_offsets_episodes_and_keeps_step_keys():
    a = multi_turn_batch(tasks(1, "a"), steps=[[2, 1]], won=[[True, False]])
    b = multi_turn_batch(tasks(1, "b"), steps=[[1, 2]], won=[[False, False]])
    out = concat_batches([a, b], pad_id=0)
    # a's rows: (e0,s0) (e1,s0) (e0,s1); b's rows: (e0,s0) (e1,s0) (e1,s1)
    assert out.episode_ids.tolist() == [0, 1, 0, 2, 3, 3]
    assert out.group_ids.tolist() == [0, 0, 0, 1, 1, 1]
    assert out.step_ids.tolist() == [0, 0, 1, 0, 0, 1]
    assert out.anchor_ids.tolist() == [0, 100, 1, 0, 100, 101]
    assert out.context_ids.shape == (6, 2)
    assert [t.uid for t in out.episode_tasks] == ["a0", "a0", "b0", "b0"]
    assert out.episode_won == [True, False, False, False]
    assert group_rewards(out, 2).tolist() == [[1.0, 0.0], [0.0, 0.0]]


def test_take_groups_single_turn_renumbers_groups():
    batch = single_turn_batch(tasks(3), [[0, 0], [1, 0], [0, 1]])
    out = take_groups(batch, torch.tensor([False, True, True]), 2)
    assert out.group_ids.tolist() == [0, 0, 1, 1]
    assert out.input_ids[:, 0].tolist() == [3, 4, 5, 6]
    assert [t.uid for t in out.tasks] == ["t1", "t1", "t2", "t2"]
    assert out.seq_rewards.tolist() == [1, 0, 0, 1]
    with pytest.raises(ValueError, match="no group kept"):
        take_groups(batch, torch.tensor([False, False, False]), 2)


def test_take_groups_multi_turn_renumbers_episodes():
    batch = multi_turn_batch(tasks(2), steps=[[1, 2], [2, 1]], won=[[False, False], [True, False]])
    out = take_groups(batch, torch.tensor([False, True]), 2)
    # kept: task 1's episodes 2 (2 steps) and 3 (1 step) -> episodes 0 and 1
    assert out.episode_ids.tolist() == [0, 1, 0]
    assert out.step_ids.tolist() == [0, 0, 1]
    assert out.group_ids.tolist() == [0, 0, 0]
    assert out.episode_won == [True, False]
    assert [t.uid for t in out.episode_tasks] == ["t1", "t1"]
    assert group_rewards(out, 2).tolist() == [[1.0, 0.0]]


def keep_if_not_constant(rewards):
    return rewards.amax(1) > rewards.amin(1)


def rounds_of(*rewards):
    """roll(r) returning a batch with rewards[r] (tasks named r<round>g<group>)."""
    called = []

    def roll(r):
        called.append(r)
        return single_turn_batch(tasks(len(rewards[r]), f"r{r}g"), rewards[r],
                                 stats={"perf/generation_tokens": 8.0, "perf/generation_s": 1.0})
    return roll, called


def test_filtered_rollouts_refills_until_the_batch_is_full():
    roll, called = rounds_of([[0, 0], [0, 1]], [[1, 1], [1, 0], [0, 1]], [[0, 1], [0, 1]])
    out = filtered_rollouts(roll, keep_if_not_constant, max_rounds=5, num_groups=2, group_size=2,
                            pad_id=0)
    assert called == [0, 1]  # two informative groups after round 1: no third round
    assert [t.uid for t in out.tasks[::2]] == ["r0g1", "r1g1"]  # the first two kept, in order
    assert out.group_ids.tolist() == [0, 0, 1, 1]
    assert out.stats["curriculum/kept_groups"] == 2.0 and out.stats["curriculum/batch_fill"] == 1.0
    assert out.stats["perf/generation_tokens"] == 16.0  # both rounds' generation is counted


def test_filtered_rollouts_trains_on_what_it_has_at_the_cap():
    roll, called = rounds_of([[0, 0], [0, 1]], [[1, 1], [0, 0]], [[0, 1], [1, 0]])
    out = filtered_rollouts(roll, keep_if_not_constant, max_rounds=2, num_groups=2, group_size=2,
                            pad_id=0)
    assert called == [0, 1]
    assert [t.uid for t in out.tasks] == ["r0g1", "r0g1"]
    assert out.stats["curriculum/batch_fill"] == 0.5


def test_filtered_rollouts_with_nothing_kept_returns_the_first_round():
    # all-zero groups are zero-variance too (the hardest case: nothing solved)
    roll, called = rounds_of([[0, 0], [1, 1]], [[0, 0], [0, 0]])
    out = filtered_rollouts(roll, keep_if_not_constant, max_rounds=2, num_groups=2, group_size=2,
                            pad_id=0)
    assert called == [0, 1]
    assert [t.uid for t in out.tasks[::2]] == ["r0g0", "r0g1"]
    assert out.stats["curriculum/kept_groups"] == 0.0 and out.stats["curriculum/batch_fill"] == 0.0
    metrics = rollout_metrics(out, 2)
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["rollout/frac_reward_zero_std"] == 1.0


def train_batch(b=2, t=4):
    mask = torch.tensor([[False, True, True, True]] * b)
    adv = torch.arange(b * t, dtype=torch.float32).view(b, t) * mask
    return TrainBatch(torch.ones(b, t, dtype=torch.long), torch.ones(b, t, dtype=torch.long), mask,
                      torch.zeros(b, t), adv, torch.zeros(b, t))


def test_apply_selection_drops_rows_and_tokens():
    batch = train_batch(3)
    tokens = torch.tensor([[True, True, False, True]] * 3)
    out = apply_selection(batch, torch.tensor([True, False, True]), tokens)
    assert out.input_ids.shape == (2, 4)
    assert out.action_mask.tolist() == [[False, True, False, True]] * 2
    assert out.advantages.tolist() == [[0, 1, 0, 3], [0, 9, 0, 11]]
    assert out.ref_logprobs is None and out.old_values is None


def test_select_training_data_leaves_batch_alone_without_a_selector():
    batch = train_batch()
    rollouts = single_turn_batch(tasks(1), [[0, 1]])
    assert select_training_data(object(), rollouts, batch, None) == (batch, {})


def _with_sampler(batch, base: float):
    """`batch` with sampler log-probs base + row index on its action tokens."""
    rows = torch.arange(batch.input_ids.shape[0], dtype=torch.float32)[:, None]
    batch.sampler_logprobs = (base + rows).expand(batch.input_ids.shape).clone() * batch.action_mask
    return batch


def test_concat_and_take_groups_carry_sampler_logprobs():
    a = _with_sampler(single_turn_batch(tasks(2, "a"), [[1, 0], [0, 0]], width=3), -10.0)
    b = _with_sampler(single_turn_batch(tasks(1, "b"), [[1, 1]], width=5), -20.0)
    out = concat_batches([a, b], pad_id=0)
    assert out.sampler_logprobs.shape == (6, 5)
    assert out.sampler_logprobs[1].tolist() == [0.0, -9.0, -9.0, 0.0, 0.0]  # padded with 0
    assert out.sampler_logprobs[4].tolist() == b.sampler_logprobs[0].tolist()
    kept = take_groups(out, torch.tensor([False, True, True]), group_size=2)
    assert kept.sampler_logprobs.tolist() == out.sampler_logprobs[2:].tolist()
    # none stays none; a mix is a bug
    plain = [single_turn_batch(tasks(1, c), [[1, 0]], width=3) for c in "cd"]
    assert concat_batches(plain, pad_id=0).sampler_logprobs is None
    assert take_groups(plain[0], torch.tensor([True]), group_size=2).sampler_logprobs is None
    with pytest.raises(ValueError, match="some batches carry sampler log-probs"):
        concat_batches([a, plain[0]], pad_id=0)


def test_apply_selection_keeps_the_rows_sampler_logprobs():
    batch = train_batch(4)
    batch.sampler_logprobs = torch.arange(16, dtype=torch.float32).view(4, 4)
    out = apply_selection(batch, torch.tensor([True, False, True, True]), torch.ones(4, 4, dtype=torch.bool))
    assert out.sampler_logprobs.tolist() == batch.sampler_logprobs[[0, 2, 3]].tolist()
