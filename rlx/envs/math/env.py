r"""`MathEnv`: question -> one completion -> reward from the final answer.

Default answer format: "Please reason step by step, and put your final answer within
\boxed{}." -- the common math-RL prompt, and the style of math SFT data such as
NuminaMath-CoT, which (to our knowledge) is part of SmolLM2-Instruct's training mix. A
small model that ignores it still earns reward on easy tasks: `extract_answer` also
accepts "#### x", "The answer is x" (MetaMathQA's style) and, by default, the last number.
"""

from collections.abc import Callable, Sequence
from typing import Literal

from rlx.envs.base import Score, Task, chat_messages, held_out_split
from rlx.envs.math.answers import extract_answer
from rlx.envs.math.grading import grade

TaskSource = Callable[[], Sequence[Task]]  # e.g. GeneratedTasks(...), Gsm8kTasks(...)

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant who solves math problems step by step."
BOXED_FORMAT = "Please reason step by step, and put your final answer within \\boxed{}."


def _unique_prompts(tasks: Sequence[Task]) -> list[Task]:
    """Tasks with the first occurrence of each prompt; uids must be unique."""
    seen_prompts: set[str] = set()
    seen_uids: set[str] = set()
    unique = []
    for task in tasks:
        if task.uid in seen_uids:
            raise ValueError(f"duplicate task uid {task.uid!r} from the task source")
        seen_uids.add(task.uid)
        if task.prompt not in seen_prompts:
            seen_prompts.add(task.prompt)
            unique.append(task)
    return unique


class MathEnv:
    """Single-turn math environment (satisfies `rlx.envs.base.SingleTurnEnv`).

    source: the task source, a zero-argument callable returning tasks (`GeneratedTasks`,
        `Gsm8kTasks`, `MathCompetitionTasks`, selected by a nested `_target_`).
    system_prompt: the system message; "" sends none (the chat template's default applies).
    answer_format: instruction appended to every question; "" appends nothing.
    num_eval: held-out tasks. Without `eval_source` they are drawn (seeded) from `source`
        and removed from training; with it they are drawn from `eval_source`, and training
        drops any task whose prompt is in the eval set.
    seed: fixes the eval draw. A data seed, kept apart from the run seed so that runs with
        different seeds are evaluated on the same tasks.
    correct_reward: reward for a correct answer.
    format_reward: reward for an answer that was extracted but is wrong (0 for none).
    eval_source: optional separate source for the eval split (e.g. GSM8K's test file).
    last_number_fallback: when no boxed / "####" / "answer is" answer is found, take the
        last number in the completion as the answer.

    Prompts are unique within the environment (later duplicates are dropped) and the two
    splits share no uid and no prompt.
    """

    def __init__(
        self,
        source: TaskSource,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        answer_format: str = BOXED_FORMAT,
        num_eval: int = 200,
        seed: int = 0,
        correct_reward: float = 1.0,
        format_reward: float = 0.0,
        eval_source: TaskSource | None = None,
        last_number_fallback: bool = True,
    ):
        self.system_prompt = system_prompt
        self.answer_format = answer_format
        self.correct_reward = correct_reward
        self.format_reward = format_reward
        self.last_number_fallback = last_number_fallback
        self._splits = self._split(source, eval_source, num_eval, seed)

    @staticmethod
    def _split(
        source: TaskSource, eval_source: TaskSource | None, num_eval: int, seed: int
    ) -> dict[str, list[Task]]:
        pool = _unique_prompts(source())
        candidates = pool if eval_source is None else _unique_prompts(eval_source())
        return held_out_split(pool, candidates, num_eval, seed, noun="tasks")

    def tasks(self, split: Literal["train", "eval"]) -> Sequence[Task]:
        """The tasks of `split` (in source order)."""
        return self._splits[split]

    def messages(self, task: Task) -> list[dict[str, str]]:
        """[system?, user] chat messages for `tokenizer.apply_chat_template`."""
        return chat_messages(task.prompt, self.system_prompt, self.answer_format)

    def score(self, tasks: Sequence[Task], completions: Sequence[str]) -> list[Score]:
        """Extract each completion's final answer and check it against its task's answer."""
        if len(tasks) != len(completions):
            raise ValueError(f"{len(tasks)} tasks but {len(completions)} completions")
        parsed = [extract_answer(c, self.last_number_fallback) for c in completions]
        verdicts = grade([t.answer for t in tasks], parsed)
        return [
            Score(
                reward=self.correct_reward if correct else self.format_reward if answer is not None else 0.0,
                correct=correct,
                format_ok=answer is not None,
                parsed=answer,
            )
            for answer, correct in zip(parsed, verdicts)
        ]
