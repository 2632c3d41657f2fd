"""`CodeFeedbackEnv`: write a program, see which test failed and why, try again (up to `max_turns`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from rlx.envs.base import Task
from rlx.envs.code.env import CODE_FORMAT, reward_from_report
from rlx.envs.code.extract import build_program
from rlx.envs.code.feedback import feedback_text
from rlx.envs.code.harness import run_tests
from rlx.envs.code.problems import CodeProblem, ProblemSet, ProblemSource
from rlx.envs.text_env import Observation, Step
from rlx.sandbox import Sandbox

RETRY_INSTRUCTION = "Fix the program. Reply with the complete corrected code in a single ```python code block."


def state_key(turn: int, text: str) -> str:
    """GiGPO anchor key: the attempt number and the observation text (hashed to stay small)."""
    return f"turn{turn}:{hashlib.sha1(text.encode()).hexdigest()[:16]}"


class CodeFeedbackEnv:
    """Multi-turn code environment (satisfies `rlx.envs.text_env.TextEnv`).

    Each action is a program (a completion; the code is extracted as in `CodeEnv`). A passing
    attempt ends the episode (terminated, reward `success_reward`, won). A failing one returns the
    failing test with its trimmed traceback (or the limit that stopped the program) as the next
    observation, reward 0; the `max_turns`-th failing attempt is truncated, with reward
    `success_reward` x the fraction of tests passed when `partial_credit`, else 0.

    source, sandbox, num_eval, seed, eval_source: as in `CodeEnv`.
    max_turns: attempts per episode.
    answer_format: instruction after the problem in the first observation.
    retry_instruction: instruction after the feedback.
    feedback_chars: budget for the test / traceback text in a feedback observation.
    """

    def __init__(
        self,
        source: ProblemSource,
        sandbox: Sandbox,
        max_turns: int = 4,
        answer_format: str = CODE_FORMAT,
        retry_instruction: str = RETRY_INSTRUCTION,
        num_eval: int = 64,
        seed: int = 0,
        eval_source: ProblemSource | None = None,
        success_reward: float = 1.0,
        partial_credit: bool = False,
        feedback_chars: int = 1200,
    ):
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        self.sandbox = sandbox
        self.max_turns = max_turns
        self.answer_format = answer_format
        self.retry_instruction = retry_instruction
        self.success_reward = success_reward
        self.partial_credit = partial_credit
        self.feedback_chars = feedback_chars
        self.problems = ProblemSet(source, eval_source, num_eval, seed)
        self._problem: CodeProblem | None = None
        self._turn = 0
        self._done = True

    def tasks(self, split: Literal["train", "eval"]) -> Sequence[Task]:
        """The tasks of `split` (in source order)."""
        return [p.task() for p in self.problems.split(split)]

    def reset(self, task: Task, seed: int) -> Observation:
        """Start an episode on `task` (deterministic: `seed` changes nothing)."""
        self._problem = self.problems.get(task.uid)
        self._turn, self._done = 0, False
        text = f"{task.prompt}\n\n{self.answer_format}" if self.answer_format else task.prompt
        return Observation(text=text, admissible=None, state_key=state_key(0, text))

    def step(self, action: str) -> Step:
        """Test the program in `action`; pass -> terminated, fail -> feedback (or truncated)."""
        if self._done or self._problem is None:
            raise RuntimeError("the episode is over (or never started): call reset() first")
        problem = self._problem
        self._turn += 1
        extracted = build_program(problem, action)
        (report,) = run_tests(self.sandbox, [problem], [extracted.program])
        truncated = not report.all_passed and self._turn >= self.max_turns
        self._done = report.all_passed or truncated
        feedback = feedback_text(report, problem.tests, self.feedback_chars)
        text = feedback if report.all_passed else f"{feedback}\n\n{self.retry_instruction}"
        if report.all_passed or (truncated and self.partial_credit):
            reward = reward_from_report(report, self.success_reward, self.partial_credit)
        else:
            reward = 0.0
        return Step(
            observation=Observation(text=text, admissible=None, state_key=state_key(self._turn, text)),
            reward=reward,
            terminated=report.all_passed,
            truncated=truncated,
            action_valid=extracted.parses and bool(action.strip()),
            won=report.all_passed,
            info={"turn": self._turn, "passed": report.passed, "total": report.total,
                  "killed_by": report.killed_by, "fenced": extracted.fenced},
        )

    def close(self) -> None:
        self.sandbox.close()
