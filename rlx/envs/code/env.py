"""`CodeEnv`: problem -> one completion -> program -> tests in the sandbox -> reward."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from rlx.envs.base import Score, Task, chat_messages
from rlx.envs.code.extract import build_program
from rlx.envs.code.harness import TestReport, run_tests
from rlx.envs.code.problems import ProblemSet, ProblemSource
from rlx.sandbox import Sandbox

DEFAULT_SYSTEM_PROMPT = "You are an expert Python programmer."
CODE_FORMAT = "Write your solution as Python code in a single ```python code block."


def reward_from_report(report: TestReport, correct_reward: float, partial_credit: bool) -> float:
    """`correct_reward` when every test passes; else the fraction passed times it with
    `partial_credit`, or 0."""
    if report.all_passed:
        return correct_reward
    return correct_reward * report.fraction if partial_credit else 0.0


class CodeEnv:
    """Single-turn code environment (satisfies `rlx.envs.base.SingleTurnEnv`).

    source: the problem source (`HumanEvalTasks`, `MbppTasks`, selected by a nested `_target_`).
    sandbox: the `rlx.sandbox.Sandbox` that runs every program (limits live there).
    system_prompt: the system message; "" sends none.
    answer_format: instruction appended to every problem; "" appends nothing.
    num_eval: held-out problems, drawn (seeded by `seed`) from `source`, or from `eval_source`.
    seed: data seed of the eval draw, independent of the run seed.
    eval_source: optional separate source for the eval split.
    correct_reward: reward when all tests pass.
    partial_credit: otherwise reward = correct_reward x the fraction of tests passed (else 0).

    Scores: `correct` = all tests pass, `format_ok` = the extracted program parses, `parsed` =
    the program that ran (see `rlx.envs.code.extract`).
    """

    def __init__(
        self,
        source: ProblemSource,
        sandbox: Sandbox,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        answer_format: str = CODE_FORMAT,
        num_eval: int = 64,
        seed: int = 0,
        eval_source: ProblemSource | None = None,
        correct_reward: float = 1.0,
        partial_credit: bool = False,
    ):
        self.sandbox = sandbox
        self.system_prompt = system_prompt
        self.answer_format = answer_format
        self.correct_reward = correct_reward
        self.partial_credit = partial_credit
        self.problems = ProblemSet(source, eval_source, num_eval, seed)

    def tasks(self, split: Literal["train", "eval"]) -> Sequence[Task]:
        """The tasks of `split` (in source order)."""
        return [p.task() for p in self.problems.split(split)]

    def messages(self, task: Task) -> list[dict[str, str]]:
        """[system?, user] chat messages for `tokenizer.apply_chat_template`."""
        return chat_messages(task.prompt, self.system_prompt, self.answer_format)

    def score(self, tasks: Sequence[Task], completions: Sequence[str]) -> list[Score]:
        """Build each completion's program and run its task's tests (concurrently, sandboxed)."""
        if len(tasks) != len(completions):
            raise ValueError(f"{len(tasks)} tasks but {len(completions)} completions")
        problems = [self.problems.get(t.uid) for t in tasks]
        extracted = [build_program(p, c) for p, c in zip(problems, completions)]
        reports = run_tests(self.sandbox, problems, [e.program for e in extracted])
        return [
            Score(
                reward=reward_from_report(report, self.correct_reward, self.partial_credit),
                correct=report.all_passed,
                format_ok=e.parses,
                parsed=e.program,
            )
            for e, report in zip(extracted, reports)
        ]

    def close(self) -> None:
        self.sandbox.close()
