import json
import os
import random
import subprocess
import sys
from collections import Counter

import pytest

from rlx.envs.alfworld import TASK_TYPES, AlfWorldEnv, GeneratedGames, expert_walkthrough, planner_walkthrough
from rlx.envs.alfworld.catalogue import ALFRED_TASK_TYPE, ROOMS_FOR_TASK
from rlx.envs.alfworld.expert import _tracker_command
from rlx.envs.alfworld.generated import derive_seed, split_layouts
from rlx.envs.alfworld.generator import make_game, mangle
from tests.envs.alfworld.conftest import requires_alfworld, walkthrough


def test_mangle_and_tracker_command():
    assert mangle("Apple|+00.10|-01.25|+00.90") == "Apple_bar__plus_00_dot_10_bar__minus_01_dot_25_bar__plus_00_dot_90"
    assert _tracker_command("move apple 1 to countertop 1") == "put apple 1 to countertop 1"
    assert _tracker_command("go to cabinet 2") == "go to cabinet 2"


def test_layout_pools_are_seeded_and_eval_avoids_train_signatures():
    train = split_layouts(0, "train", 8)
    assert [layout.room for layout in train[:4]] == ["Kitchen", "LivingRoom", "Bedroom", "Bathroom"]
    assert split_layouts(0, "train", 8) == train
    assert split_layouts(1, "train", 8) != train
    signatures = {layout.signature() for layout in train}
    evals = split_layouts(0, "eval", 8, avoid=signatures)
    assert not signatures & {layout.signature() for layout in evals}
    assert not {r.pddl_id for t in train for r in t.receptacles} & {r.pddl_id for e in evals for r in e.receptacles}


@requires_alfworld
@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_make_game_respects_task_rules(task_type):
    for k in range(5):
        rng = random.Random(k)
        layout = next(l for l in split_layouts(k, "train", 4) if l.room in ROOMS_FOR_TASK[task_type])
        spec = make_game(task_type, layout, rng, distractors=6)
        targets = [o for o in spec.objects if o.cls == spec.object_target]
        assert len(targets) >= (2 if task_type == "pick_two_obj_and_place" else 1)
        assert all(o.receptacle.cls != spec.parent_target for o in targets)  # goal not true at start
        assert spec.goal and spec.object_target.lower() in spec.goal
        if task_type == "look_at_obj_in_light":
            lamps = [o for o in spec.objects if o.cls == "DeskLamp"]
            assert [o.receptacle.cls in ("Desk", "SideTable", "Dresser") for o in lamps] == [True]
    kitchen = split_layouts(0, "train", 1)[0]
    assert make_game("look_at_obj_in_light", kitchen, random.Random(0), 3) is None  # not a kitchen task


@requires_alfworld
def test_generated_games_cover_every_type_and_are_solvable(generated):
    for split in ("train", "eval"):
        tasks = generated.tasks(split)
        assert Counter(t.task_type for t in tasks) == {t: 1 for t in TASK_TYPES}
        for task in tasks:
            game_file = generated.game_file(task.uid)
            game = json.loads(game_file.read_text())
            traj = json.loads((game_file.parent / "traj_data.json").read_text())
            assert game["solvable"] is True and 1 <= len(game["walkthrough"]) <= 50 == generated.max_expert_steps
            assert task.difficulty == len(game["walkthrough"])
            assert f"Your task is to: {task.prompt}." in game["grammar"]
            assert traj["task_type"] == ALFRED_TASK_TYPE[task.task_type]
            assert task.uid.startswith({"train": "train/", "eval": "valid_unseen/"}[split])
            assert task.uid.split("/")[1].startswith(traj["task_type"] + "-")


@requires_alfworld
def test_train_and_eval_games_use_disjoint_layouts(generated):
    def scenes(split):
        return {json.loads((generated.game_file(t.uid).parent / "traj_data.json").read_text())["scene"]["scene_name"]
                for t in generated.tasks(split)}

    train, evals = scenes("train"), scenes("eval")
    assert all(s.startswith("T") for s in train) and all(s.startswith("E") for s in evals)
    train_sigs = {l.signature() for l in generated.layouts("train")}
    assert not train_sigs & {l.signature() for l in generated.layouts("eval")}


@requires_alfworld
@pytest.mark.parametrize("index", range(6))
def test_handcoded_expert_wins_every_task_type(generated, index):
    task = generated.tasks("train")[index]
    game_file = generated.game_file(task.uid)
    commands = expert_walkthrough(game_file, max_steps=50, seed=derive_seed(0, "solver", "train", index, 0))
    assert commands == walkthrough(generated, task)  # same seed, same play
    env = AlfWorldEnv(generated)
    env.reset(task)
    steps = [env.step(c) for c in commands]
    assert steps[-1].won and not any(s.won for s in steps[:-1])


@requires_alfworld
def test_fast_downward_plan_wins_and_is_no_longer_than_the_expert(generated):
    task = generated.tasks("train")[0]  # pick_and_place
    plan = planner_walkthrough(generated.game_file(task.uid))
    assert plan and len(plan) <= len(walkthrough(generated, task))
    env = AlfWorldEnv(generated)
    env.reset(task)
    assert [env.step(c).won for c in plan][-1]


@requires_alfworld
def test_generation_is_deterministic(generated, tmp_path):
    again = GeneratedGames(num_train=6, num_eval=6, cache_dir=str(tmp_path))
    assert again.folder.name == generated.folder.name  # same settings, same key
    entry = again.generate_one("train", 2)
    first = generated.tasks("train")[2]
    assert entry["uid"] == first.uid and entry["goal"] == first.prompt
    for name in ("game.tw-pddl", "traj_data.json"):
        assert (again.root / entry["uid"] / name).read_bytes() == (generated.root / first.uid / name).read_bytes()
    other = GeneratedGames(seed=1, cache_dir=str(tmp_path))
    assert other.folder != again.folder and other.layouts("train") != again.layouts("train")


@requires_alfworld
def test_games_do_not_depend_on_python_hash_seed():
    code = (
        "import hashlib, random\n"
        "from rlx.envs.alfworld import TASK_TYPES\n"
        "from rlx.envs.alfworld.catalogue import ROOMS_FOR_TASK\n"
        "from rlx.envs.alfworld.generated import split_layouts\n"
        "from rlx.envs.alfworld.generator import make_game, problem_pddl\n"
        "text = ''\n"
        "for t in TASK_TYPES:\n"
        "    layout = next(l for l in split_layouts(0, 'train', 4) if l.room in ROOMS_FOR_TASK[t])\n"
        "    spec = make_game(t, layout, random.Random(7), distractors=8)\n"
        "    text += spec.goal + problem_pddl(spec, 'x')\n"
        "print(hashlib.sha256(text.encode()).hexdigest())\n"
    )
    digests = {
        subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                       capture_output=True, text=True, check=True).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1 and len(digests.pop().strip()) == 64  # sha256 hex of the same text
