"""A sanity-check environment: does the pipeline learn at all?

`DigitsEnv` asks for digits and rewards the fraction of non-space characters in the
response that are digits. The reward is dense, so even a randomly initialised model gets
a signal; a working trainer drives it toward 1 within a few dozen iterations. Use it
to check a new model, estimator or loss before a long run (`env=sanity_digits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from rlx.envs.base import Score, Task


class DigitsEnv:
    """Tasks "Reply with digits only (#i)."; reward = digit fraction of the response."""

    def __init__(self, num_train: int = 64, num_eval: int = 16):
        self._tasks = {
            "train": [Task(f"digits-train-{i}", f"Reply with digits only (#{i}).", "") for i in range(num_train)],
            "eval": [Task(f"digits-eval-{i}", f"Reply with digits only (#{num_train + i}).", "")
                     for i in range(num_eval)],
        }

    def tasks(self, split: Literal["train", "eval"]) -> Sequence[Task]:
        return self._tasks[split]

    def messages(self, task: Task) -> list[dict[str, str]]:
        return [{"role": "user", "content": task.prompt}]

    def score(self, tasks: Sequence[Task], completions: Sequence[str]) -> list[Score]:
        return [self._score(c) for c in completions]

    @staticmethod
    def _score(completion: str) -> Score:
        chars = [c for c in completion if not c.isspace()]
        frac = sum(c.isdigit() for c in chars) / len(chars) if chars else 0.0
        return Score(reward=frac, correct=bool(chars) and frac == 1.0, format_ok=bool(chars),
                     parsed="".join(chars) or None)
