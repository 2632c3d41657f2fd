"""Each curriculum moves training toward the informative tasks/rollouts of a synthetic task set
with known pass rates: easy (p = 1), medium (p = 0.5) and hard (p = 0) tasks, rolled out by a
fake collect through the loop's own `collect_batch`."""

from types import SimpleNamespace

import pytest
import torch

from rlx.curriculum.d3s import D3SCurriculum
from rlx.curriculum.difficulty_band import DifficultyBandCurriculum
from rlx.curriculum.dynamic_filter import DynamicFilterCurriculum
from rlx.curriculum.pcl import PromptCurriculum
from rlx.curriculum.uniform import UniformCurriculum
from rlx.envs.base import Task
from rlx.train.batching import group_outcomes
from rlx.train.loop import collect_batch
from tests.curriculum.fakes import BernoulliCollect

KINDS = {"easy": (1.0, "yes yes yes"), "medium": (0.5, "plus minus times"),
         "hard": (0.0, "wrong wrong wrong")}
TASKS = [Task(f"{kind}-{i}", f"{words} {i}", "0") for i in range(10) for kind, (_, words) in KINDS.items()]
P = {t.uid: KINDS[t.uid.split("-")[0]][0] for t in TASKS}


def simulate(curriculum, iterations: int, n: int, group_size: int = 8, p=P) -> list[list[str]]:
    """The task uids trained on in each iteration, after `curriculum.update` on each batch."""
    run = SimpleNamespace(curriculum=curriculum, collect=BernoulliCollect(p), seed=0,
                          settings=SimpleNamespace(tasks_per_iter=n, group_size=group_size),
                          tokenizer=SimpleNamespace(pad_token_id=0))
    trained = []
    for it in range(iterations):
        group_tasks, scores = group_outcomes(collect_batch(run, it), group_size)
        curriculum.update(group_tasks, scores)
        trained.append([t.uid for t in group_tasks])
    return trained


def medium_share(trained: list[list[str]]) -> float:
    flat = [u for batch in trained for u in batch]
    return sum(u.startswith("medium") for u in flat) / len(flat)


def test_uniform_baseline_trains_on_every_kind_alike():
    assert abs(medium_share(simulate(UniformCurriculum(TASKS, seed=0), 10, 6)) - 1 / 3) < 0.1


def test_difficulty_band_moves_to_the_medium_tasks_after_exploring():
    trained = simulate(DifficultyBandCurriculum(TASKS, seed=0), 10, 6)
    assert len({u for batch in trained[:5] for u in batch}) == 30   # every task seen first
    assert medium_share(trained[5:]) >= 0.9


def test_dynamic_filter_trains_only_on_groups_with_reward_variance():
    curriculum = DynamicFilterCurriculum(TASKS, seed=0, max_rounds=4)
    run_rounds = []
    original = curriculum.update

    def update(tasks, scores):
        metrics = original(tasks, scores)
        run_rounds.append(metrics["curriculum/rounds"])
        return metrics

    curriculum.update = update
    trained = simulate(curriculum, 8, 6)
    assert medium_share(trained) == 1.0
    assert max(run_rounds) > 1   # it had to roll out more tasks to fill the batch


@pytest.mark.parametrize("medium_words", [words for _, words in KINDS.values()])
def test_pcl_learns_to_pick_the_medium_prompts(tiny, medium_words):
    """Whichever prompt kind has p = 0.5 (so an untrained value model's lucky guess cannot pass)."""
    words = [w for _, w in KINDS.values() if w != medium_words]
    p = {t.uid: 0.5 if t.prompt.startswith(medium_words) else float(t.prompt.startswith(words[0]))
         for t in TASKS}
    pcl = PromptCurriculum(TASKS, seed=0, model=tiny.model, tokenizer=tiny.tokenizer, pool_factor=4,
                           lr=1e-2, value_steps=16)
    trained = simulate(pcl, 16, 4, p=p)
    share = [sum(p[u] == 0.5 for u in batch) / 4 for batch in trained[-6:]]
    assert sum(share) / 6 >= 0.75


def test_d3s_keeps_the_high_variance_rollouts_and_relaxes_over_training():
    d3s = D3SCurriculum(TASKS, seed=0, total_iters=4, sample_keep=0.25, token_keep=0.5, until=0.5)
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0])       # one group of 8
    adv = (rewards - rewards.mean())[:, None].repeat(1, 3)
    mask = torch.ones(8, 3, dtype=torch.bool)
    entropy = torch.rand(8, 3, generator=torch.Generator().manual_seed(0))
    kept = []
    for _ in range(4):
        rows, _, stats = d3s.select(adv, mask, torch.zeros(8, dtype=torch.long), torch.arange(8),
                                    entropy)
        kept.append((stats["curriculum/kept_sample_frac"], stats["curriculum/kept_token_frac"]))
        d3s.update([], [])
        assert rewards[rows].var(unbiased=False) >= rewards.var(unbiased=False)
        if kept[-1][0] == 0.25:   # two of eight: a correct and a wrong one
            assert sorted(rewards[rows].tolist()) == [0.0, 1.0]
    # token fractions are of all 24 action tokens: 2 rows x 3 x 0.5 -> 3, then 5 x 3 x 0.75 -> 12
    assert kept == [(0.25, 0.125), (0.625, 0.5), (1.0, 1.0), (1.0, 1.0)]
