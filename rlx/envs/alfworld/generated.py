"""Generated ALFWorld games: rlx's seeded rooms and tasks, verified, cached on disk.

`GeneratedGames` writes games in ALFWorld's official layout (`json_2.1.1/train/...` and
`json_2.1.1/valid_unseen/...`) under a cache folder, so the same engine plays them and
`OfficialGames` could load the folder too. Game i of a split is a function of (seed, split, i)
only: the task type cycles through `task_types`, a layout of a room kind that allows it is
drawn from the split's layout pool, then the task, the objects and the goal sentence. A game
is kept only when the solver (ALFWorld's handcoded expert, or Fast Downward) wins it within
`max_expert_steps`; otherwise the next attempt of the same i is drawn. Train and eval draw
from disjoint layout pools, and no eval layout has the same room kind and receptacle counts
as a train layout.

The first `tasks(split)` generates what is missing (1-1.5 s per game per core, in
`workers` processes) and records an index; later calls and other processes read it. A larger
`num_train` / `num_eval` keeps the games already made and adds new ones.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from multiprocessing import get_context
from pathlib import Path
from typing import Literal

from rlx.envs.alfworld.catalogue import ROOMS, ROOMS_FOR_TASK, TASK_TYPES, TaskType
from rlx.envs.alfworld.engine import require_alfworld
from rlx.envs.alfworld.expert import expert_walkthrough, planner_walkthrough
from rlx.envs.alfworld.generator import Layout, make_game, make_layout, mark_solved, write_game
from rlx.envs.base import Task
from rlx.envs.cpus import available_cpus

GENERATOR_VERSION = 1  # bump when generated games change for the same settings
MAX_ATTEMPTS = 25
SPLIT_FOLDER = {"train": "train", "eval": "valid_unseen"}
log = logging.getLogger(__name__)


def derive_seed(seed: int, *names: object) -> int:
    """A 31-bit seed for stream `names` (crc32: stable across processes and machines)."""
    return zlib.crc32("/".join([str(seed), *map(str, names)]).encode()) & 0x7FFFFFFF


def default_cache_dir() -> Path:
    """`$RLX_CACHE/alfworld` if set, else `~/.cache/rlx/alfworld` (as rlx.models.cache)."""
    return Path(os.environ.get("RLX_CACHE") or "~/.cache/rlx").expanduser() / "alfworld"


def _alfworld_version() -> str:
    try:
        return version("alfworld")
    except PackageNotFoundError:
        return "missing"


def split_layouts(
    seed: int, split: Literal["train", "eval"], count: int, avoid: set[tuple] | frozenset = frozenset()
) -> list[Layout]:
    """The layout pool of a split: room kinds in turn; none whose signature is in `avoid`."""
    layouts = []
    for j in range(count):
        room = ROOMS[j % len(ROOMS)]
        for attempt in range(1000):
            rng = random.Random(derive_seed(seed, "layout", split, j, attempt))
            layout = make_layout(room, f"{'T' if split == 'train' else 'E'}{j:03d}", rng)
            if layout.signature() not in avoid:
                break
        else:
            raise ValueError(f"no {room} layout unlike the {len(avoid)} avoided ones: widen ROOM_SPECS")
        layouts.append(layout)
    return layouts


class GeneratedGames:
    """rlx's generated ALFWorld games (seeded, expert-verified, cached).

    Tasks: uid = the game folder relative to `json_2.1.1/` ("train/<type>-<Obj>-None-<Parent>-
    T007/trial_00012"), prompt = the goal sentence, difficulty = the solver's walkthrough length.

    num_train, num_eval: games per split (task types in turn, so equal counts per type).
    seed: the generator seed (a data seed, independent of the run seed).
    task_types: the task types to generate (None: all six).
    train_layouts, eval_layouts: sizes of the two disjoint room pools (room kinds in turn).
    max_expert_steps: a game is kept only if the solver wins it in at most this many
        commands (keep it <= the env's max_steps so every game is winnable in an episode).
    solver: `expert` (ALFWorld's handcoded expert, with rlx's fix for pick_two) or `planner`
        (Fast Downward's optimal plan, found once at reset and replayed; shorter walkthroughs).
    cache_dir: where games are written (None: `$RLX_CACHE/alfworld` or `~/.cache/rlx/alfworld`).
    workers: processes for generation (None: the CPUs this process may use, at most 8).
    """

    def __init__(
        self,
        num_train: int = 600,
        num_eval: int = 120,
        seed: int = 0,
        task_types: list[TaskType] | None = None,
        train_layouts: int = 48,
        eval_layouts: int = 16,
        max_expert_steps: int = 50,
        solver: Literal["expert", "planner"] = "expert",
        cache_dir: str | None = None,
        workers: int | None = None,
    ):
        self.counts = {"train": num_train, "eval": num_eval}
        self.seed = seed
        self.task_types = tuple(task_types) if task_types else TASK_TYPES
        self.num_layouts = {"train": train_layouts, "eval": eval_layouts}
        self.max_expert_steps = max_expert_steps
        self.solver = solver
        self.workers = workers
        settings = {
            "version": GENERATOR_VERSION,
            "alfworld": _alfworld_version(),  # its constants and goal templates feed the games
            "seed": seed,
            "task_types": list(self.task_types),
            "layouts": [train_layouts, eval_layouts],
            "max_expert_steps": max_expert_steps,
            "solver": solver,
        }
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
        self.base = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.folder = self.base / f"generated-{key}"  # games of other settings live beside it
        self._tasks: dict[str, list[Task]] = {}
        self._layouts: dict[str, list[Layout]] = {}

    @property
    def root(self) -> Path:
        """The official-layout root (`.../json_2.1.1`) the games live in."""
        return self.folder / "json_2.1.1"

    # ------------------------------------------------------------ public API

    def tasks(self, split: Literal["train", "eval"]) -> list[Task]:
        """The first `num_<split>` games of `split`, generating the missing ones first."""
        if split not in self._tasks:
            entries = self._ensure(split, self.counts[split])
            self._tasks[split] = [
                Task(uid=e["uid"], prompt=e["goal"], answer="", task_type=e["task_type"], difficulty=float(e["steps"]))
                for e in entries
            ]
        return self._tasks[split]

    def game_file(self, uid: str) -> Path:
        """The `game.tw-pddl` of task `uid` (generating its split first if it is missing)."""
        path = self.root / uid / "game.tw-pddl"
        if not path.is_file():
            split = "train" if uid.startswith(SPLIT_FOLDER["train"] + "/") else "eval"
            self.tasks(split)
            if not path.is_file():
                raise FileNotFoundError(f"generated ALFWorld game '{uid}' is not in {self.root}")
        return path

    # ------------------------------------------------------------ generation

    def layouts(self, split: Literal["train", "eval"]) -> list[Layout]:
        """The split's layout pool (eval avoids every train layout's signature)."""
        if split not in self._layouts:
            avoid = set()
            if split == "eval":
                avoid = {layout.signature() for layout in self.layouts("train")}
            self._layouts[split] = split_layouts(self.seed, split, self.num_layouts[split], avoid)
        return self._layouts[split]

    def _ensure(self, split: Literal["train", "eval"], count: int) -> list[dict]:
        require_alfworld()
        self.folder.mkdir(parents=True, exist_ok=True)
        index_path = self.folder / f"index_{SPLIT_FOLDER[split]}.json"
        with open(self.folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one generator per folder; others wait, then read
            index = json.loads(index_path.read_text()) if index_path.is_file() else {}
            missing = [i for i in range(count) if str(i) not in index]
            if missing:
                log.warning(
                    "rlx: generating %d ALFWorld %s games into %s (once; 1-1.5 s per game per core)",
                    len(missing), split, self.folder,
                )
                try:
                    for entry in self._generate(split, missing):
                        index[str(entry["index"])] = entry
                finally:  # keep what was made, even when interrupted
                    tmp = index_path.with_suffix(".tmp")
                    tmp.write_text(json.dumps(index, sort_keys=True, indent=1))
                    tmp.replace(index_path)
        return [index[str(i)] for i in range(count)]

    def _generate(self, split: Literal["train", "eval"], indices: list[int]) -> Iterator[dict]:
        self.layouts(split)  # computed once here, shipped to the workers with self
        workers = min(self.workers or min(available_cpus(), 8), len(indices))
        if workers <= 1 or len(indices) < 4:
            yield from (self.generate_one(split, i) for i in indices)
            return
        # fork, not spawn: spawn re-imports the caller's __main__, and an unguarded script would
        # then call tasks() again in every worker and wait forever on the lock held here.
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
            yield from pool.map(self.generate_one, [split] * len(indices), indices, chunksize=2)

    def generate_one(self, split: Literal["train", "eval"], index: int) -> dict:
        """Make game `index` of `split` (first attempt the solver wins) and its index entry."""
        task_type = self.task_types[index % len(self.task_types)]
        layouts = [layout for layout in self.layouts(split) if layout.room in ROOMS_FOR_TASK[task_type]]
        if not layouts:
            raise ValueError(f"no {split} layout of a room kind that allows {task_type}: raise {split}_layouts")
        split_dir = self.root / SPLIT_FOLDER[split]
        split_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(MAX_ATTEMPTS):
            rng = random.Random(derive_seed(self.seed, "game", split, index, attempt))
            layout = rng.choice(layouts)
            n = len(layout.receptacles)
            spec = make_game(task_type, layout, rng, distractors=rng.randint(n // 2, n))
            if spec is None:
                continue
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{index}-", dir=split_dir))
            try:
                name = f"rlx_{SPLIT_FOLDER[split]}_{index:05d}"
                game_file = write_game(spec, tmp, name)
                walkthrough = self._solve(game_file, derive_seed(self.seed, "solver", split, index, attempt))
                if walkthrough is None:
                    continue
                mark_solved(game_file, walkthrough)
                final = split_dir / spec.dir_name / f"trial_{index:05d}"
                final.parent.mkdir(parents=True, exist_ok=True)
                if final.exists():  # written by an earlier, interrupted run: same content
                    shutil.rmtree(final)
                tmp.rename(final)
                return {
                    "index": index,
                    "uid": final.relative_to(self.root).as_posix(),
                    "goal": spec.goal,
                    "task_type": task_type,
                    "steps": len(walkthrough),
                    "attempt": attempt,
                }
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"no solvable {task_type} game for {split} index {index} in {MAX_ATTEMPTS} attempts")

    def _solve(self, game_file: Path, seed: int) -> list[str] | None:
        if self.solver == "planner":
            return planner_walkthrough(game_file, self.max_expert_steps)
        return expert_walkthrough(game_file, self.max_expert_steps, seed)
