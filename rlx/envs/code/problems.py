"""`CodeProblem` (a programming task with its tests) and the train/eval split shared by the code envs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from rlx.envs.base import Task, held_out_split


@dataclass(frozen=True)
class CodeProblem:
    """One programming problem.

    uid: stable id ("humaneval-0", "mbpp-601").
    prompt: the problem as shown to the policy (without the answer-format instruction).
    entry_point: the function under test; the tests see it as `candidate` too.
    tests: test units run in order in the solution's namespace; each holds at least one assert
        (plus any setup statements that precede it). Partial credit = fraction that pass.
    test_setup: code run once after the solution and before the tests (imports, helpers).
    stub: code that a body-only completion continues (HumanEval's signature + docstring); "" if none.
    preamble: code placed before a solution that defines the entry point itself (the stub's
        imports and helper functions); "" if none.
    reference: a known-correct solution (program text).
    task_type: the category that per-type metrics use ("humaneval", "mbpp").
    """

    uid: str
    prompt: str
    entry_point: str
    tests: tuple[str, ...]
    test_setup: str = ""
    stub: str = ""
    preamble: str = ""
    reference: str = ""
    task_type: str = "code"

    def task(self) -> Task:
        """The `Task` the trainer sees (answer = the reference solution)."""
        return Task(uid=self.uid, prompt=self.prompt, answer=self.reference, task_type=self.task_type)


ProblemSource = Callable[[], Sequence[CodeProblem]]  # HumanEvalTasks(...), MbppTasks(...)


class ProblemSet:
    """The problems of an environment split into train and eval, loaded on first use.

    num_eval problems are held out: drawn (seeded by `seed`) from `source` and removed from
    training, or drawn from `eval_source` when given (training then drops any problem with the
    same uid or prompt). Loading is deferred so that an env is cheap to build in a worker process.
    """

    def __init__(self, source: ProblemSource, eval_source: ProblemSource | None, num_eval: int, seed: int):
        self._source, self._eval_source = source, eval_source
        self._num_eval, self._seed = num_eval, seed
        self._splits: dict[str, list[CodeProblem]] | None = None
        self._by_uid: dict[str, CodeProblem] = {}

    def split(self, split: Literal["train", "eval"]) -> list[CodeProblem]:
        if self._splits is None:
            self._splits = split_problems(self._source, self._eval_source, self._num_eval, self._seed)
            self._by_uid = {p.uid: p for problems in self._splits.values() for p in problems}
        return self._splits[split]

    def get(self, uid: str) -> CodeProblem:
        """The problem with this uid (either split); KeyError names the uid."""
        if self._splits is None:
            self.split("train")
        try:
            return self._by_uid[uid]
        except KeyError:
            raise KeyError(f"no code problem with uid {uid!r} in this environment") from None


def _unique(problems: Sequence[CodeProblem]) -> list[CodeProblem]:
    seen: set[str] = set()
    for p in problems:
        if p.uid in seen:
            raise ValueError(f"duplicate problem uid {p.uid!r} from the problem source")
        seen.add(p.uid)
    return list(problems)


def split_problems(
    source: ProblemSource, eval_source: ProblemSource | None, num_eval: int, seed: int
) -> dict[str, list[CodeProblem]]:
    """{"train": [...], "eval": [...]}, disjoint in uids and prompts, each in source order."""
    pool = _unique(source())
    candidates = pool if eval_source is None else _unique(eval_source())
    return held_out_split(pool, candidates, num_eval, seed, noun="problems")
