"""Online per-task pass rates from the task's own rollouts, with exponentially decayed evidence.

For task i, after iteration t in which its G_t rollouts had c_t correct ones:

    s_i <- lambda^(t - t_i) * s_i + c_t          n_i <- lambda^(t - t_i) * n_i + G_t          t_i <- t

and the estimate is p_i = s_i / n_i: a decayed-count (exponentially weighted) pass rate in which
a rollout seen k iterations ago weighs lambda^k. The evidence weight n_i * lambda^(now - t_i) keeps
decaying while the task is not rolled out; once it falls below `min_weight` (by default one
rollout's worth) the estimate is stale and the task counts as unseen again, so it is re-explored.
The decayed-pass-rate idea follows online-difficulty curricula (e.g. CLPO, prime-rl's difficulty
pools); the formulas here are ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class PassRateTracker:
    """Decayed per-task pass rates, keyed by task uid. `now` is the iteration counter."""

    def __init__(self, decay: float, min_weight: float = 1.0):
        self.decay, self.min_weight = decay, min_weight
        self.successes: dict[str, float] = {}
        self.trials: dict[str, float] = {}
        self.stamp: dict[str, int] = {}

    def observe(self, uid: str, successes: float, trials: float, now: int) -> None:
        fade = self.decay ** (now - self.stamp[uid]) if uid in self.stamp else 0.0
        self.successes[uid] = fade * self.successes.get(uid, 0.0) + successes
        self.trials[uid] = fade * self.trials.get(uid, 0.0) + trials
        self.stamp[uid] = now

    def weight(self, uid: str, now: int) -> float:
        """The evidence behind the estimate at iteration `now` (0 for an unseen task)."""
        if uid not in self.stamp:
            return 0.0
        return self.trials[uid] * self.decay ** (now - self.stamp[uid])

    def rates(self, now: int) -> dict[str, float]:
        """uid -> pass rate of every task whose evidence is at least `min_weight`."""
        return {uid: self.successes[uid] / self.trials[uid] for uid in self.stamp
                if self.trials[uid] > 0 and self.weight(uid, now) >= self.min_weight}

    def state_dict(self) -> dict[str, Any]:
        return {"successes": dict(self.successes), "trials": dict(self.trials),
                "stamp": dict(self.stamp)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.successes = dict(state["successes"])
        self.trials = dict(state["trials"])
        self.stamp = dict(state["stamp"])


HISTOGRAM_EDGES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def pass_rate_histogram(rates: Sequence[float], edges: Sequence[float] = HISTOGRAM_EDGES,
                        prefix: str = "curriculum/pass_rate_hist") -> dict[str, float]:
    """Fraction of `rates` in each bucket [edges[k], edges[k+1]) (the last one closed), as
    scalars named e.g. `curriculum/pass_rate_hist/0.2-0.4`; all 0 when `rates` is empty."""
    counts = [0] * (len(edges) - 1)
    for r in rates:
        k = next((k for k in range(len(counts)) if r < edges[k + 1]), len(counts) - 1)
        counts[k] += 1
    total = max(len(rates), 1)
    return {f"{prefix}/{lo:.1f}-{hi:.1f}": c / total for lo, hi, c in zip(edges, edges[1:], counts)}


def group_pass_counts(scores: Sequence[Any], group_size: int) -> list[tuple[int, int]]:
    """(correct, rollouts) of each group of `group_size` consecutive scores."""
    return [(sum(bool(s.correct) for s in scores[i: i + group_size]), len(scores[i: i + group_size]))
            for i in range(0, len(scores), group_size)]
