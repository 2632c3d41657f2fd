"""Math reference answers as single-turn SFT demonstrations (`trainer=sft` with `env=math*`).

The math sources keep each task's reference final answer (GSM8K's "#### n", MATH's \\boxed{}),
not a worked solution, so a demonstration is a one-sentence answer in the format the prompt asks
for: "The answer is \\boxed{<answer>}." Each one is scored by the environment itself and kept only
when it is graded correct, so a demonstration is never a response the reward would refuse.
"""

from __future__ import annotations

from rlx.envs.base import Task


class ReferenceAnswers:
    """The task's reference answer, boxed (see the module doc)."""

    def response(self, env, task: Task) -> str | None:
        return f"The answer is \\boxed{{{task.answer}}}." if task.answer else None
