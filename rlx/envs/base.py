"""The contract between environments and the trainer.

A single-turn environment hands out `Task`s, turns one into chat messages for the
policy, and scores a batch of completions. Environments are plain classes selected
by `_target_`; they satisfy `SingleTurnEnv` structurally, without inheriting from it.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class Task:
    """One problem.

    uid: stable id, unique within an environment (e.g. "gen-addition-000123",
        "gsm8k-train-00042"); the key curricula and logs use.
    prompt: the question text shown to the model (without answer-format instructions).
    answer: the reference final answer, as a string.
    task_type: a category for per-type metrics ("arithmetic", "gsm8k", a MATH subject).
    difficulty: a source-specific difficulty estimate (higher is harder), or None.
    """

    uid: str
    prompt: str
    answer: str
    task_type: str = "default"
    difficulty: float | None = None


@dataclass(frozen=True)
class Score:
    """The verdict on one completion.

    reward: the task reward (by default 1.0 when correct, 0.0 otherwise).
    correct: the extracted answer is equivalent to the reference.
    format_ok: a final answer could be extracted from the completion.
    parsed: the extracted answer, or None when `format_ok` is False.
    """

    reward: float
    correct: bool
    format_ok: bool
    parsed: str | None


@runtime_checkable
class SingleTurnEnv(Protocol):
    """Prompt -> one completion -> reward."""

    def tasks(self, split: Literal["train", "eval"]) -> Sequence[Task]:
        """All tasks of a split; train and eval are disjoint."""
        ...

    def messages(self, task: Task) -> list[dict[str, str]]:
        """Chat messages (`role`, `content`) for `tokenizer.apply_chat_template`."""
        ...

    def score(self, tasks: Sequence[Task], completions: Sequence[str]) -> list[Score]:
        """Score `completions[i]` against `tasks[i]`, batched."""
        ...


def chat_messages(prompt: str, system_prompt: str = "", answer_format: str = "") -> list[dict[str, str]]:
    """[system?, user] messages: the optional system prompt, then the prompt followed by the
    answer-format instruction (when there is one)."""
    user = f"{prompt}\n\n{answer_format}" if answer_format else prompt
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*system, {"role": "user", "content": user}]


def held_out_split(pool: Sequence, candidates: Sequence, num_eval: int, seed: int,
                   noun: str = "tasks") -> dict[str, list]:
    """{"train": [...], "eval": [...]}: `num_eval` items drawn (seeded) from `candidates`, and
    the `pool` items sharing neither a uid nor a prompt with them; both in source order.
    Items are anything with `.uid` and `.prompt` (tasks, code problems)."""
    if not 0 <= num_eval <= len(candidates):
        raise ValueError(f"num_eval={num_eval} but the eval pool has {len(candidates)} {noun}")
    picked = sorted(random.Random(seed).sample(range(len(candidates)), num_eval))
    held_out = [candidates[i] for i in picked]
    uids, prompts = {x.uid for x in held_out}, {x.prompt for x in held_out}
    train = [x for x in pool if x.uid not in uids and x.prompt not in prompts]
    if not train:
        raise ValueError(f"no training {noun} left: the source gives {len(pool)}, num_eval={num_eval}")
    return {"train": train, "eval": held_out}
