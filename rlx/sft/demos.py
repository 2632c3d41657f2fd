"""Expert demonstrations rendered as the policy's own step prompts, stored as a `datasets` dataset.

A demonstrator (one per environment: `rlx.envs.alfworld.demos.ExpertDemos`,
`rlx.envs.webshop.demos.GoalDemos`) plays a task in the real environment and yields, step by
step, the action it takes and a short reason. `play_demo` records the observations the
environment returned; `demo_rows` turns each step into one supervised row whose prompt is
built by `rlx.agent.prompt.step_messages` with the same role, history window and step count
as an RL rollout (`rlx.agent.rollout.play_episodes`), and whose response is what a
well-formatted policy answers: `<think>reason</think>` then `<action>command</action>`
(only the action with `agent.require_think=false`, the bare command with
`agent.action_format=raw`). The history holds the actions as the rollout parser returns them
(`parse_action`: stripped, lowercased), as in RL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from rlx.agent.prompt import parse_action, step_messages
from rlx.agent.rollout import AgentSettings
from rlx.envs.base import Task
from rlx.envs.text_env import Observation

DEMOS_DIR = "demos"  # <run_dir>/demos: the dataset, saved with `datasets.Dataset.save_to_disk`


@dataclass(frozen=True)
class DemoAction:
    """One expert step: the command and a short reason (the think text)."""

    command: str
    reason: str


class Demonstrator(Protocol):
    """Plays tasks of one multi-turn environment: `policy(env, task)` returns a function from
    the current observation to the next `DemoAction` (None: the expert has nothing more to do)."""

    def policy(self, env: Any, task: Task) -> Callable[[Observation], DemoAction | None]: ...


class SingleTurnDemonstrator(Protocol):
    """Answers tasks of a single-turn environment (math, code): the response text, or None."""

    def response(self, env: Any, task: Task) -> str | None: ...


def single_turn_rows(env: Any, tasks: Sequence[Task], demonstrator: SingleTurnDemonstrator
                     ) -> tuple[list[dict[str, Any]], int]:
    """(rows, tasks tried): the environment's own prompt (`env.messages`, what the RL rollout
    encodes) and the demonstrator's response, kept when the environment scores it correct."""
    answered = [(t, demonstrator.response(env, t)) for t in tasks]
    answered = [(t, r) for t, r in answered if r]
    scores = env.score([t for t, _ in answered], [r for _, r in answered]) if answered else []
    rows = [{"task_uid": t.uid, "task_type": t.task_type, "episode": i, "step": 0,
             "messages": json.dumps(env.messages(t)), "response": r}
            for i, ((t, r), s) in enumerate(zip(answered, scores)) if s.correct]
    return rows, len(tasks)


@dataclass
class DemoEpisode:
    """The observations seen and the actions taken in one demonstration, and whether it won."""

    task: Task
    observations: list[Observation] = field(default_factory=list)  # before each action
    actions: list[DemoAction] = field(default_factory=list)
    won: bool = False
    reward: float = 0.0


def play_demo(env: Any, task: Task, demonstrator: Demonstrator, max_steps: int) -> DemoEpisode:
    """Play `task` in `env` with the demonstrator for at most `max_steps` actions."""
    episode = DemoEpisode(task)
    observation = env.reset(task, seed=0)
    act = demonstrator.policy(env, task)
    for _ in range(max_steps):
        action = act(observation)
        if action is None:
            break
        step = env.step(action.command)
        episode.observations.append(observation)
        episode.actions.append(action)
        episode.reward += step.reward
        observation = step.observation
        if step.won:
            episode.won = True
        if step.terminated or step.truncated:
            break
    return episode


def play_demos(env: Any, tasks: Iterable[Task], demonstrator: Demonstrator, max_steps: int,
               wins_only: bool = True) -> tuple[list[DemoEpisode], int]:
    """(the demonstrations kept, how many were played): with `wins_only`, only winning ones."""
    played, kept = 0, []
    for task in tasks:
        episode = play_demo(env, task, demonstrator, max_steps)
        played += 1
        if episode.won or not wins_only:
            kept.append(episode)
    return kept, played


def response_text(action: DemoAction, settings: AgentSettings) -> str:
    """What a well-formatted policy answers for `action` under `settings` (see the module doc)."""
    if settings.action_format == "raw":
        return action.command
    tagged = f"<action>{action.command}</action>"
    return f"<think>{action.reason}</think>\n{tagged}" if settings.require_think else tagged


def demo_rows(episodes: Sequence[DemoEpisode], settings: AgentSettings) -> Iterator[dict[str, Any]]:
    """One supervised row per step: the RL step prompt (chat messages) and the response text.

    Only `sample_mode=step` prompts are rendered (the GiGPO/HGPO data model rlx's agent
    recipes use)."""
    if settings.sample_mode != "step":
        raise ValueError("SFT demonstrations are rendered as step prompts: use agent.sample_mode=step")
    for number, episode in enumerate(episodes):
        history: list[tuple[str, str]] = []
        for step, (observation, action) in enumerate(zip(episode.observations, episode.actions)):
            messages = step_messages(
                role=settings.role, instruction=episode.task.prompt, observation=observation,
                history=history, step_index=step, history_length=settings.history_length,
                require_think=settings.require_think)
            response = response_text(action, settings)
            yield {
                "task_uid": episode.task.uid, "task_type": episode.task.task_type,
                "episode": number, "step": step,
                "messages": json.dumps(messages), "response": response,
            }
            parsed = parse_action(response, settings.require_think)
            history.append((observation.text, parsed.action if settings.action_format == "tags"
                            else response))


def save_demos(rows: Iterable[dict[str, Any]], run_dir: Path) -> Path:
    """Write the rows as a `datasets` dataset under `<run_dir>/demos` (once per run)."""
    from datasets import Dataset

    rows = list(rows)
    if not rows:
        raise ValueError("no demonstrations to save: the demonstrator won no episode")
    path = Path(run_dir) / DEMOS_DIR
    Dataset.from_list(rows).save_to_disk(str(path))
    return path


def load_demos(run_dir: Path):
    """The run's demonstration dataset, or None when it has not been written yet."""
    from datasets import load_from_disk

    path = Path(run_dir) / DEMOS_DIR
    return load_from_disk(str(path)) if (path / "dataset_info.json").is_file() else None


def row_messages(row: dict[str, Any]) -> list[dict[str, str]]:
    return json.loads(row["messages"])
