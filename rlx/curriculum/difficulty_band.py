"""Online difficulty curriculum: train on tasks whose estimated pass rate is inside a band.

Each task's pass rate is tracked from its own rollouts with exponentially decayed evidence
(`rlx.curriculum.pass_rates`). A batch of n tasks is filled in this order:

1. unseen tasks (never rolled out, or whose evidence has decayed below `min_weight`), in a
   seeded random order, at most ceil(`unseen_fraction` x n) of them;
2. tasks with `low` <= p_i <= `high` (the band, edges included), uniformly at random;
3. the remaining unseen tasks;
4. fallback when the band has too few tasks: the other seen tasks, nearest to the band first
   (distance max(low - p_i, p_i - high, 0)), ties in random order.

Too-easy (p = 1) and too-hard (p = 0) tasks give a group no reward variance and so no
group-relative learning signal; the band keeps the batch where the signal is (cf. CLPO's online
curriculum, prime-rl's difficulty pools, and DAPO's zero-variance argument).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from rlx.curriculum.pass_rates import PassRateTracker, group_pass_counts, pass_rate_histogram
from rlx.envs.base import Score, Task
from rlx.utils.seeding import derive_seed


class DifficultyBandCurriculum:
    """Sample tasks with decayed pass-rate estimates in [`low`, `high`], unseen ones first.

    tasks, seed: given by the trainer. low, high: the band of pass rates. decay: weight kept per
    iteration by earlier evidence (lambda). min_weight: evidence (in rollouts) below which an
    estimate counts as stale and the task as unseen. unseen_fraction: the share of each batch
    that may go to unseen tasks before band tasks (1.0: unseen strictly first, which on a large
    task set means a first epoch in random order).
    """

    def __init__(self, tasks: Sequence[Task], seed: int, low: float = 0.2, high: float = 0.8,
                 decay: float = 0.95, min_weight: float = 1.0, unseen_fraction: float = 1.0):
        if not tasks:
            raise ValueError("the environment has no training tasks")
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"curriculum.low={low} and curriculum.high={high} must satisfy "
                             "0 <= low <= high <= 1")
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"curriculum.decay must be in (0, 1], got {decay}")
        if not 0.0 <= unseen_fraction <= 1.0:
            raise ValueError(f"curriculum.unseen_fraction must be in [0, 1], got {unseen_fraction}")
        self.tasks, self.seed = list(tasks), seed
        self.low, self.high, self.unseen_fraction = low, high, unseen_fraction
        self.tracker = PassRateTracker(decay, min_weight)
        self.iteration = 0   # update() calls so far: the tracker's clock
        self.draws = 0       # sample() calls so far: the sampling RNG stream
        self.last_sample: dict[str, float] = {}

    def in_band(self, rate: float) -> bool:
        return self.low <= rate <= self.high

    def distance(self, rate: float) -> float:
        return max(self.low - rate, rate - self.high, 0.0)

    def sample(self, n: int) -> list[Task]:
        if n > len(self.tasks):
            raise ValueError(f"asked for {n} distinct tasks but the environment has {len(self.tasks)}")
        rng = random.Random(derive_seed(self.seed, "difficulty_band", self.draws))
        self.draws += 1
        rates = self.tracker.rates(self.iteration)
        order = list(range(len(self.tasks)))
        rng.shuffle(order)
        unseen = [i for i in order if self.tasks[i].uid not in rates]
        band = [i for i in order if self.tasks[i].uid in rates and self.in_band(rates[self.tasks[i].uid])]
        rest = [i for i in order if self.tasks[i].uid in rates and not self.in_band(rates[self.tasks[i].uid])]
        rest.sort(key=lambda i: self.distance(rates[self.tasks[i].uid]))  # stable: ties stay shuffled
        quota = min(len(unseen), math.ceil(self.unseen_fraction * n))
        first, more = unseen[:quota], unseen[quota:]
        picked = (first + band + more + rest)[:n]
        self.last_sample = {f"curriculum/sampled_{name}": len(set(group) & set(picked)) / n
                            for name, group in (("unseen", unseen), ("in_band", band), ("fallback", rest))}
        return [self.tasks[i] for i in picked]

    def update(self, tasks: Sequence[Task], scores: Sequence[Score]) -> dict[str, float]:
        group_size = len(scores) // max(len(tasks), 1)
        for task, (correct, trials) in zip(tasks, group_pass_counts(scores, group_size)):
            self.tracker.observe(task.uid, correct, trials, self.iteration)
        self.iteration += 1
        rates = list(self.tracker.rates(self.iteration).values())
        return {
            **self.last_sample,
            "curriculum/seen_frac": len(rates) / len(self.tasks),
            "curriculum/in_band_frac": sum(map(self.in_band, rates)) / max(len(rates), 1),
            "curriculum/pass_rate_mean": sum(rates) / max(len(rates), 1),
            **pass_rate_histogram(rates),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"tracker": self.tracker.state_dict(), "iteration": self.iteration, "draws": self.draws}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tracker.load_state_dict(state["tracker"])
        self.iteration, self.draws = state["iteration"], state["draws"]
