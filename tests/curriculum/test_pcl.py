"""Prompt Curriculum Learning: prompt features, nearest-to-target choice, value-model fitting."""

import pytest
import torch

from rlx.curriculum.pcl import PromptCurriculum, nearest_to_target, prompt_features
from tests.curriculum.fakes import score, tasks


def test_nearest_to_target_breaks_ties_in_pool_order():
    predicted = torch.tensor([0.0, 0.75, 0.5, 1.0, 0.25])
    assert nearest_to_target(predicted, 3, 0.5).tolist() == [2, 1, 4]
    assert nearest_to_target(predicted, 2, 1.0).tolist() == [3, 1]


def test_prompt_features_do_not_depend_on_the_other_prompts_in_the_batch(tiny):
    short, long = "What is 3 plus 4?", "What is 12 times 13? Let's think step by step."
    alone = prompt_features(tiny.model, tiny.tokenizer, [short], max_tokens=64, batch_size=8)
    batched = prompt_features(tiny.model, tiny.tokenizer, [long, short], max_tokens=64, batch_size=8)
    assert alone.shape == (1, 64) and batched.shape == (2, 64)
    assert torch.allclose(alone[0], batched[1], atol=1e-5)
    assert not torch.allclose(batched[0], batched[1], atol=1e-3)
    cut = prompt_features(tiny.model, tiny.tokenizer, [long, long + " more words"], max_tokens=4,
                          batch_size=1)
    assert torch.equal(cut[0], cut[1])  # both cut to the same first 4 tokens


def make_pcl(tiny, task_list, **kw):
    return PromptCurriculum(task_list, seed=0, model=tiny.model, tokenizer=tiny.tokenizer, **kw)


def test_sample_scores_a_pool_and_picks_distinct_tasks(tiny):
    pcl = make_pcl(tiny, tasks(10), pool_factor=3)
    picked = pcl.sample(3)
    assert len({t.uid for t in picked}) == 3
    assert pcl.last_sample["curriculum/pool_size"] == 9.0
    assert set(pcl.pending) == {t.uid for t in picked}
    assert make_pcl(tiny, tasks(10), pool_factor=4).candidates(3).__len__() == 10  # capped at all
    with pytest.raises(ValueError, match="asked for 11 distinct tasks"):
        pcl.sample(11)


def test_update_fits_the_value_model_to_observed_pass_rates(tiny):
    pcl = make_pcl(tiny, tasks(6), pool_factor=1, lr=1e-2, value_steps=20)
    picked = pcl.sample(6)
    rates = {t.uid: (1.0 if i % 2 else 0.0) for i, t in enumerate(picked)}
    first = None
    for _ in range(5):
        pcl.pending = {}
        metrics = pcl.update(picked, [score(rates[t.uid]) for t in picked for _ in range(4)])
        first = first if first is not None else metrics["curriculum/value_abs_error"]
    assert metrics["curriculum/value_abs_error"] < first / 2
    assert metrics["curriculum/observed_pass_rate"] == 0.5


def test_state_round_trip_restores_the_value_model_and_the_order(tiny):
    a = make_pcl(tiny, tasks(12), pool_factor=2)
    picked = a.sample(3)
    a.update(picked, [score(1) for _ in range(6)] + [score(0) for _ in range(6)])
    b = make_pcl(tiny, tasks(12), pool_factor=2)
    b.load_state_dict(a.state_dict())
    assert [t.uid for t in a.sample(3)] == [t.uid for t in b.sample(3)]
    assert a.last_sample == b.last_sample


def test_the_value_model_does_not_touch_the_global_rng(tiny):
    torch.manual_seed(5)
    make_pcl(tiny, tasks(2))
    after = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(1))
