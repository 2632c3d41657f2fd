"""A tiny TextEnv for EnvPool tests, with knobs that make a worker crash, hang or raise.

The game: walk on a line of cells 0..9 to the goal cell named in the task. The seed sets the start
cell and a per-episode "wind" that sometimes pushes the walker back, so an episode's outcome depends
on its seed and on the env keeping its own RNG state.

Injected failures, chosen by the action text (or by the task uid, for reset):
  "crash"   -> os._exit(7) in the worker, mid-step           (uid containing "crash-reset" at reset)
  "hang"    -> sleep `hang_s` seconds                        (uid containing "hang-reset")
  "raise"   -> RuntimeError                                  (uid containing "raise-reset")
  "spawn"   -> start a `sleep` child process, then continue (for the no-orphans test; its pid in info)
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Sequence
from typing import Literal

from rlx.envs.base import Task
from rlx.envs.text_env import Observation, Step

ACTIONS = ("left", "right", "stay")


class ToyWalkEnv:
    def __init__(self, num_tasks: int = 6, wind: float = 0.3, hang_s: float = 60.0, step_delay_s: float = 0.0,
                 fail_on_build: bool = False):
        if fail_on_build:
            raise ImportError("ToyWalkEnv needs the package 'toy-walk': pip install toy-walk")
        self.num_tasks = num_tasks
        self.wind = wind
        self.hang_s = hang_s
        self.step_delay_s = step_delay_s
        self._pos = self._goal = 0
        self._rng = random.Random(0)

    def tasks(self, split: Literal["train", "eval"]) -> Sequence[Task]:
        offset = 0 if split == "train" else 1000
        return [Task(uid=f"walk-{split}-{i}", prompt=f"Reach cell {(i * 7 + offset) % 10}.",
                     answer=str((i * 7 + offset) % 10), task_type="walk") for i in range(self.num_tasks)]

    def reset(self, task: Task, seed: int) -> Observation:
        for failure in ("crash", "hang", "raise"):
            if f"{failure}-reset" in task.uid:
                self._inject(failure)
        self._rng = random.Random(f"{task.uid}/{seed}")  # str seeds hash with sha512: stable everywhere
        self._goal = int(task.answer)
        self._pos = self._rng.randrange(10)
        return self._observe()

    def step(self, action: str) -> Step:
        self._inject(action)
        if self.step_delay_s:
            time.sleep(self.step_delay_s)
        info = {}
        if action == "spawn":
            info["child_pid"] = subprocess.Popen(["sleep", "60"]).pid
        valid = action in ACTIONS
        move = {"left": -1, "right": 1}.get(action, 0)
        if move and self._rng.random() < self.wind:
            move = -move
        self._pos = min(9, max(0, self._pos + move))
        won = self._pos == self._goal
        return Step(self._observe(), reward=1.0 if won else 0.0, terminated=won, action_valid=valid, won=won,
                    info=info)

    def close(self) -> None:
        pass

    def _observe(self) -> Observation:
        text = f"You are at cell {self._pos}. The goal is cell {self._goal}."
        return Observation(text=text, admissible=ACTIONS, state_key=text)

    def _inject(self, name: str) -> None:
        if name == "crash":
            os._exit(7)
        if name == "hang":
            time.sleep(self.hang_s)
        if name == "raise":
            raise RuntimeError("injected failure")


def walk_policy(observation: Observation, episode: int, turn: int) -> str:
    """A deterministic, slightly random policy: mostly toward the goal."""
    rng = random.Random(f"{episode}/{turn}/{observation.text}")
    numbers = [int(w.rstrip(".")) for w in observation.text.split() if w.rstrip(".").isdigit()]
    if len(numbers) != 2:  # e.g. the empty observation of a failed reset
        return "stay"
    pos, goal = numbers
    toward = "right" if goal > pos else "left"
    return toward if rng.random() < 0.7 else rng.choice(ACTIONS)
