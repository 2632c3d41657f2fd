"""rlx's generator of ALFRED-style games: seeded rooms and tasks written as ALFWorld game files.

A *layout* is a room: a kind (kitchen, living room, bedroom, bathroom), its receptacles with
ALFRED-style ids and one location each, and the agent's start (a location with no
receptacle, as in ALFWorld). A *game* puts a task on a layout: the target objects, distractor
objects (each only where ALFRED's `canContain` allows), a desk lamp for look_at_obj_in_light,
and the goal (`alfworld.gen.goal_library.gdict`: the PDDL goal and a sentence template).

`write_game` writes what ALFWorld's own data has per trial: `game.tw-pddl` (the PDDL domain,
the grammar with the goal sentence in place of "UNKNOWN GOAL", the PDDL problem, `solvable`,
`walkthrough`) and `traj_data.json` (`task_type`, `pddl_params`, the goal as annotation), so
ALFWorld's engine, its loaders and its handcoded expert read them like the official games.

Rules learned from the engine (a game breaking one fails at reset, not at load):
every PDDL name is declared once; each object is `inReceptacle` something; sinks and bathtubs
are `Sink|...|SinkBasin` / `Bathtub|...|BathtubBasin` (the demangler names them "sinkbasin 1");
receptacle types that are also objects (Box, Mug, ...) are never receptacles here; the goal is
not already true at the start; the state-changing appliance is never the goal's receptacle.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rlx.envs.alfworld.catalogue import (
    ACTION_CLASS,
    ALFRED_TASK_TYPE,
    APPLIANCE,
    LAMP,
    LAMP_HOSTS,
    OPENABLE,
    ROOM_SPECS,
    ROOMS_FOR_TASK,
    Room,
    TaskType,
)
from rlx.envs.alfworld.engine import domain_and_grammar, require_alfworld

BASINS = {"SinkBasin": "Sink", "BathtubBasin": "Bathtub"}  # basin class -> the id's first part
MOVABLE_RECEPTACLES = frozenset({"Bowl", "Box", "Cup", "Mug", "Plate", "Pan", "Pot"})


@dataclass(frozen=True)
class Receptacle:
    cls: str  # ALFRED class ("Cabinet")
    pddl_id: str  # "Cabinet_bar__minus_01_dot_00_bar__plus_00_dot_39_bar__plus_00_dot_73"
    location: str  # "loc_bar__minus_4_bar_4_bar_3_bar_15"


@dataclass(frozen=True)
class Layout:
    """A room: receptacles at their locations and where the agent starts."""

    name: str
    room: Room
    receptacles: tuple[Receptacle, ...]
    start: str

    def signature(self) -> tuple[tuple[str, int], ...]:
        """The room kind's receptacle classes with counts: what makes two layouts "the same"."""
        counts: dict[str, int] = {}
        for r in self.receptacles:
            counts[r.cls] = counts.get(r.cls, 0) + 1
        return ((self.room, 0), *sorted(counts.items()))


@dataclass(frozen=True)
class PlacedObject:
    cls: str
    pddl_id: str
    receptacle: Receptacle


@dataclass(frozen=True)
class GameSpec:
    """A task on a layout: everything `problem_pddl` and `write_game` need."""

    task_type: TaskType
    layout: Layout
    objects: tuple[PlacedObject, ...]
    object_target: str
    parent_target: str  # "" for look_at_obj_in_light
    toggle_target: str  # "" unless look_at_obj_in_light
    goal: str  # the sentence: "put a hot apple in diningtable"

    @property
    def dir_name(self) -> str:
        """ALFWorld's task folder name: <type>-<Obj>-<MovableRecep>-<Parent or Toggle>-<scene>."""
        alfred_type = ALFRED_TASK_TYPE[self.task_type]
        return f"{alfred_type}-{self.object_target}-None-{self.parent_target or self.toggle_target}-{self.layout.name}"


# ---------------------------------------------------------------- ids and names


def mangle(text: str) -> str:
    """ALFRED's id encoding for PDDL names: "Apple|+00.10" -> "Apple_bar__plus_00_dot_10"."""
    for char, word in (("|", "_bar_"), ("-", "_minus_"), ("+", "_plus_"), (".", "_dot_"), (",", "_comma_")):
        text = text.replace(char, word)
    return text


def _object_id(cls: str, rng: random.Random, used: set[str]) -> str:
    while True:
        xyz = "|".join(f"{rng.uniform(-3.0, 3.0):+06.2f}" for _ in range(3))
        raw = f"{BASINS[cls]}|{xyz}|{cls}" if cls in BASINS else f"{cls}|{xyz}"
        pddl_id = mangle(raw)
        if pddl_id.lower() not in used:  # PDDL names are case-insensitive
            used.add(pddl_id.lower())
            return pddl_id


def _location(rng: random.Random, used: set[str]) -> str:
    while True:
        raw = f"loc|{rng.randint(-12, 12)}|{rng.randint(-12, 12)}|{rng.randint(0, 3)}|{rng.choice((0, 15, 30, 45, 60))}"
        if raw not in used:
            used.add(raw)
            return mangle(raw)


# ---------------------------------------------------------------- layouts


def make_layout(room: Room, name: str, rng: random.Random) -> Layout:
    """Draw a room of kind `room`: receptacle counts from its `RoomSpec`, ids, locations."""
    used_ids: set[str] = set()
    used_locations: set[str] = set()
    receptacles = []
    for cls, low, high in ROOM_SPECS[room].receptacles:
        for _ in range(rng.randint(low, high)):
            receptacles.append(Receptacle(cls, _object_id(cls, rng, used_ids), _location(rng, used_locations)))
    return Layout(name, room, tuple(receptacles), start=_location(rng, used_locations))


# ---------------------------------------------------------------- games


@lru_cache(maxsize=1)
def _alfred_facts() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """(receptacle class -> object classes it can contain, action class -> object classes)."""
    require_alfworld()
    from alfworld.gen import constants

    contain = {r: frozenset(objs) for r, objs in constants.VAL_RECEPTACLE_OBJECTS.items()}
    actions = {k: frozenset(objs) for k, objs in constants.VAL_ACTION_OBJECTS.items()}
    return contain, actions


def can_contain(receptacle_cls: str, object_cls: str) -> bool:
    return object_cls in _alfred_facts()[0].get(receptacle_cls, frozenset())


def _goal_templates(task_type: TaskType) -> tuple[str, list[str]]:
    """(PDDL goal with "#" for "-", sentence templates) from `alfworld.gen.goal_library.gdict`."""
    require_alfworld()
    from alfworld.gen.goal_library import gdict

    entry = gdict[ALFRED_TASK_TYPE[task_type]]
    return entry["pddl"], entry["templates"]


def make_game(task_type: TaskType, layout: Layout, rng: random.Random, distractors: int) -> GameSpec | None:
    """Draw a task of `task_type` on `layout`; None when the room cannot host one."""
    if layout.room not in ROOMS_FOR_TASK[task_type]:
        return None
    classes = {r.cls for r in layout.receptacles}
    appliance = APPLIANCE.get(task_type, "")
    if appliance and appliance not in classes:
        return None
    pool = [o for o in ROOM_SPECS[layout.room].objects if any(can_contain(c, o) for c in classes)]
    if task_type in ACTION_CLASS:
        pool = [o for o in pool if o in _alfred_facts()[1][ACTION_CLASS[task_type]]]

    def start_receptacles(obj: str, parent: str) -> list[Receptacle]:
        return [r for r in layout.receptacles if can_contain(r.cls, obj) and r.cls not in (parent, appliance)]

    if task_type == "look_at_obj_in_light":
        hosts = [r for r in layout.receptacles if r.cls in LAMP_HOSTS]
        candidates = [(o, "") for o in pool if start_receptacles(o, "")]
        if not hosts or not candidates:
            return None
    else:
        candidates = [
            (o, p)
            for o in pool
            for p in sorted(classes)
            if p != appliance and can_contain(p, o) and start_receptacles(o, p)
        ]
        if not candidates:
            return None
    obj, parent = rng.choice(candidates)

    used_ids = {r.pddl_id.lower() for r in layout.receptacles}
    placed: list[PlacedObject] = []
    copies = rng.randint(2, 3) if task_type == "pick_two_obj_and_place" else rng.randint(1, 2)
    for _ in range(copies):
        placed.append(PlacedObject(obj, _object_id(obj, rng, used_ids), rng.choice(start_receptacles(obj, parent))))
    toggle = ""
    if task_type == "look_at_obj_in_light":
        toggle = LAMP
        placed.append(PlacedObject(LAMP, _object_id(LAMP, rng, used_ids), rng.choice(hosts)))
    others = [o for o in ROOM_SPECS[layout.room].objects if o != obj]
    for _ in range(distractors):
        cls = rng.choice(others)
        homes = [r for r in layout.receptacles if can_contain(r.cls, cls)]
        if homes:
            placed.append(PlacedObject(cls, _object_id(cls, rng, used_ids), rng.choice(homes)))

    _, templates = _goal_templates(task_type)
    goal = rng.choice(templates).format(obj=obj.lower(), recep=parent.lower(), toggle=toggle.lower(), mrecep="")
    return GameSpec(task_type, layout, tuple(placed), obj, parent, toggle, goal)


# ---------------------------------------------------------------- PDDL and files


def problem_pddl(spec: GameSpec, name: str) -> str:
    """The PDDL problem of `spec` (ALFWorld's `initial_state.pddl` form) for domain `alfred`."""
    _, actions = _alfred_facts()
    layout = spec.layout
    object_classes = sorted({o.cls for o in spec.objects})
    receptacle_classes = sorted({r.cls for r in layout.receptacles})
    locations = [r.location for r in layout.receptacles] + [layout.start]
    declarations = (
        ["agent1 - agent"]
        + [f"{c}Type - otype" for c in object_classes]
        + [f"{c}Type - rtype" for c in receptacle_classes]
        + [f"{o.pddl_id} - object" for o in spec.objects]
        + [f"{r.pddl_id} - receptacle" for r in layout.receptacles]
        + [f"{loc} - location" for loc in locations]
    )
    init = [f"(atLocation agent1 {layout.start})"]
    for r in layout.receptacles:
        init += [f"(receptacleType {r.pddl_id} {r.cls}Type)", f"(receptacleAtLocation {r.pddl_id} {r.location})"]
        if r.cls in OPENABLE:
            init.append(f"(openable {r.pddl_id})")
    for o in spec.objects:
        init += [
            f"(objectType {o.pddl_id} {o.cls}Type)",
            f"(inReceptacle {o.pddl_id} {o.receptacle.pddl_id})",
            f"(objectAtLocation {o.pddl_id} {o.receptacle.location})",
        ]
        if o.cls == LAMP:
            init.append(f"(toggleable {o.pddl_id})")
            continue
        init.append(f"(pickupable {o.pddl_id})")
        for action_class, predicate in (
            ("Cleanable", "cleanable"), ("Heatable", "heatable"), ("Coolable", "coolable"), ("Sliceable", "sliceable"),
        ):
            if o.cls in actions[action_class]:
                init.append(f"({predicate} {o.pddl_id})")
        if o.cls in MOVABLE_RECEPTACLES:
            init.append(f"(isReceptacleObject {o.pddl_id})")
    init += [
        f"(canContain {r}Type {o}Type)" for r in receptacle_classes for o in object_classes if can_contain(r, o)
    ]
    goal_pddl, _ = _goal_templates(spec.task_type)
    goal = goal_pddl.replace("#", "-").format(
        obj=spec.object_target, recep=spec.parent_target, toggle=spec.toggle_target, mrecep=""
    )
    return (
        f"(define (problem plan_{name})\n(:domain alfred)\n(:objects\n    "
        + "\n    ".join(declarations)
        + "\n)\n(:init\n    "
        + "\n    ".join(init)
        + "\n)\n"
        + goal.strip()
        + "\n"
    )


def write_game(spec: GameSpec, directory: Path, name: str) -> Path:
    """Write `game.tw-pddl` and `traj_data.json` of `spec` into `directory`; the game file."""
    directory.mkdir(parents=True, exist_ok=True)
    domain, grammar = domain_and_grammar()
    game = {
        "pddl_domain": domain,
        "grammar": grammar.replace("UNKNOWN GOAL", spec.goal),
        "pddl_problem": problem_pddl(spec, name),
        "solvable": False,  # set by the caller once a solver has won it
        "walkthrough": None,
    }
    traj = {
        "task_type": ALFRED_TASK_TYPE[spec.task_type],
        "task_id": name,
        "scene": {"scene_name": spec.layout.name, "room": spec.layout.room},
        "pddl_params": {
            "object_target": spec.object_target,
            "parent_target": spec.parent_target,
            "toggle_target": spec.toggle_target,
            "mrecep_target": "",
            "object_sliced": False,
        },
        "turk_annotations": {"anns": [{"task_desc": spec.goal, "high_descs": [], "assignment_id": "rlx"}]},
        "generator": "rlx",
    }
    game_file = directory / "game.tw-pddl"
    game_file.write_text(json.dumps(game, sort_keys=True))
    (directory / "traj_data.json").write_text(json.dumps(traj, sort_keys=True, indent=1))
    return game_file


def mark_solved(game_file: Path, walkthrough: list[str]) -> None:
    """Record a winning command list in `game_file` and flag it solvable (as alfworld-generate)."""
    game = json.loads(game_file.read_text())
    game["solvable"], game["walkthrough"] = True, walkthrough
    game_file.write_text(json.dumps(game, sort_keys=True))
