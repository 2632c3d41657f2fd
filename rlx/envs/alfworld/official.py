"""ALFWorld's official games (the `json_2.1.1` data a user downloads), as rlx tasks.

Layout: `<data_path>/json_2.1.1/<split>/<task_type>-<Obj>-<MovableRecep|None>-<Parent|Toggle>-
<scene>/trial_T.../{traj_data.json, game.tw-pddl}` with splits `train`, `valid_seen`
(AlfredTWEnv's eval_in_distribution) and `valid_unseen` (eval_out_of_distribution).

A folder is a game when it has `traj_data.json` and a `game.tw-pddl` whose `solvable` is true,
like `AlfredTWEnv.collect_game_files`. Unlike it, nothing is skipped silently: movable-receptacle
and sliced-object tasks (task folder name containing "movable" / "Sliced"), other task types,
missing or unsolvable game files are counted, and a split with no playable game raises an
error that gives these counts for every split and says how to get the data. Only the task
folder's own name is tested for "movable"/"Sliced" (ALFWorld tests the whole path, so a data
root under e.g. /data/movable/ loses every game).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from rlx.config.types import DataPath, Range
from rlx.envs.alfworld.catalogue import SHORT_TASK_TYPE, TASK_TYPES, TaskType
from rlx.envs.base import Task

SPLITS = ("train", "valid_seen", "valid_unseen")
DOWNLOAD_HOWTO = (
    "Get the data with `pip install alfworld==0.4.2 && alfworld-download` (it writes json_2.1.1/ "
    "under $ALFWORLD_DATA, default ~/.cache/alfworld), then `export ALFWORLD_DATA=<that folder>` "
    "or set env.games.data_path=<folder holding json_2.1.1>. Expected: <data_path>/json_2.1.1/"
    "{train,valid_seen,valid_unseen}/<task>-<Obj>-<MovableRecep>-<Parent>-<scene>/trial_*/"
    "{traj_data.json,game.tw-pddl}."
)
GOAL_PATTERN = re.compile(r"Your task is to: (.*?)\.?\"\s*\}")


class AlfWorldDataError(FileNotFoundError):
    """The ALFWorld data is missing, empty, or has no playable game for a split."""


@dataclass
class SplitScan:
    """What one split folder holds: its playable games and why other folders were left out."""

    tasks: list[Task]
    found: int  # folders with a traj_data.json
    skipped: Counter  # reason -> count

    def summary(self) -> str:
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
        return f"{len(self.tasks)} playable of {self.found} found" + (f" (skipped: {reasons})" if reasons else "")


def json_root(data_path: str | Path) -> Path:
    """The folder holding the split folders: `data_path/json_2.1.1`, or `data_path` itself."""
    path = Path(os.path.expandvars(str(data_path))).expanduser()
    return path / "json_2.1.1" if (path / "json_2.1.1").is_dir() else path


def goal_sentence(grammar: str) -> str:
    """The task sentence ALFWorld substituted for "UNKNOWN GOAL" in a game's grammar."""
    match = GOAL_PATTERN.search(grammar)
    if not match:
        raise ValueError("no 'Your task is to: ...' rule in the game's grammar")
    return match.group(1).strip()


def scan_split(root: Path, split: str, task_types: tuple[TaskType, ...],
               limit: int | None = None) -> SplitScan:
    """All playable games under `root/split` (sorted by path), with skip counts; with `limit`,
    the scan stops once it has that many."""
    tasks: list[Task] = []
    found, skipped = 0, Counter()
    for traj_path in sorted((root / split).glob("*/*/traj_data.json")):
        if limit is not None and len(tasks) >= limit:
            break
        found += 1
        game_dir = traj_path.parent
        if "movable" in game_dir.parent.name or "Sliced" in game_dir.parent.name:
            skipped["movable/sliced (unsupported by ALFWorld's text engine)"] += 1
            continue
        task_type = SHORT_TASK_TYPE.get(game_dir.parent.name.split("-", 1)[0])  # traj_data is large
        if task_type not in task_types:
            skipped["other task types"] += 1
            continue
        game_file = game_dir / "game.tw-pddl"
        if not game_file.is_file():
            skipped["without game.tw-pddl"] += 1
            continue
        game = json.loads(game_file.read_text())
        if game.get("solvable") is not True:
            skipped["not marked solvable"] += 1
            continue
        walkthrough = game.get("walkthrough")
        tasks.append(
            Task(
                uid=game_dir.relative_to(root).as_posix(),
                prompt=goal_sentence(game["grammar"]),
                answer="",
                task_type=task_type,
                difficulty=float(len(walkthrough)) if walkthrough else None,
            )
        )
    return SplitScan(tasks, found, skipped)


class OfficialGames:
    """ALFWorld's downloaded games; train = `train`, eval = `eval_split`.

    data_path: the folder holding `json_2.1.1/` (ALFWorld's $ALFWORLD_DATA), or
        `json_2.1.1/` itself.
    eval_split: `valid_seen` (ALFWorld's eval_in_distribution, 140 games, the split verl-agent
        evaluates on) or `valid_unseen` (eval_out_of_distribution, 134 games, unseen rooms).
    task_types: keep these task types (None: all six).
    num_train, num_eval: keep the first N games of a split in path order (None: all).
    """

    def __init__(
        self,
        data_path: DataPath("ALFWorld data folder (holding json_2.1.1/)", DOWNLOAD_HOWTO),
        eval_split: Literal["valid_seen", "valid_unseen"] = "valid_seen",
        task_types: list[TaskType] | None = None,
        num_train: Annotated[int, Range(ge=1)] | None = None,
        num_eval: Annotated[int, Range(ge=1)] | None = None,
    ):
        self.data_path = str(data_path)
        self.eval_split = eval_split
        self.task_types = tuple(task_types) if task_types else TASK_TYPES
        self.limits = {"train": num_train, "eval": num_eval}
        self._tasks: dict[str, list[Task]] = {}

    @classmethod
    def preflight(cls, **config) -> None:
        """Before a run (`rlx.config.preflight`): the folder exists and the train split and
        the eval split each hold a playable game (the scan stops at the first one, so this
        reads a file or two, not the data set); AlfWorldDataError with the per-split counts
        otherwise."""
        games = cls(**config)
        for split in ("train", "eval"):
            games.tasks(split, limit=1)

    @property
    def root(self) -> Path:
        return json_root(self.data_path)

    def folder(self, split: Literal["train", "eval"]) -> str:
        return "train" if split == "train" else self.eval_split

    def tasks(self, split: Literal["train", "eval"], limit: int | None = None) -> list[Task]:
        """The playable games of `split`; AlfWorldDataError when there are none. `limit`:
        stop scanning after that many (a check; the result is not kept)."""
        if split in self._tasks:
            return self._tasks[split][:limit]
        if not self.root.is_dir():
            raise AlfWorldDataError(f"ALFWorld data not found at '{self.data_path}'. {DOWNLOAD_HOWTO}")
        scan = scan_split(self.root, self.folder(split), self.task_types, limit=limit)
        if not scan.tasks:
            raise AlfWorldDataError(self._empty_message(split))
        if limit is not None:
            return scan.tasks
        self._tasks[split] = scan.tasks[: self.limits[split]]
        return self._tasks[split]

    def _empty_message(self, split: str) -> str:
        counts = "; ".join(f"{name}: {scan_split(self.root, name, self.task_types).summary()}" for name in SPLITS)
        return (
            f"ALFWorld data: no playable game for split '{split}' (folder '{self.folder(split)}') "
            f"under '{self.root}'. Per split: {counts}. {DOWNLOAD_HOWTO}"
        )

    def game_file(self, uid: str) -> Path:
        """The `game.tw-pddl` of the task with this uid (its path relative to json_2.1.1/)."""
        path = self.root / uid / "game.tw-pddl"
        if not path.is_file():
            raise AlfWorldDataError(f"ALFWorld game '{uid}' not found at '{path}'. {DOWNLOAD_HOWTO}")
        return path
