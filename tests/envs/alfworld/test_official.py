import json
import shutil

import pytest

from rlx.envs.alfworld import AlfWorldDataError, AlfWorldEnv, OfficialGames
from rlx.envs.alfworld.official import goal_sentence
from tests.envs.alfworld.conftest import requires_alfworld, walkthrough


def test_goal_sentence_from_grammar():
    grammar = '"task": [\n  {\n    "rhs": "Your task is to: put a clean cloth in cabinet."\n  }\n ],'
    assert goal_sentence(grammar) == "put a clean cloth in cabinet"


def test_missing_folder_says_how_to_download(tmp_path):
    games = OfficialGames(data_path=str(tmp_path / "nowhere"))  # cheap: nothing is read yet
    with pytest.raises(AlfWorldDataError, match=r"not found at .*nowhere.*alfworld-download"):
        games.tasks("train")


def test_empty_folder_gives_counts_per_split(tmp_path):
    for split in ("train", "valid_seen"):
        (tmp_path / "json_2.1.1" / split).mkdir(parents=True)
    with pytest.raises(AlfWorldDataError) as err:
        OfficialGames(data_path=str(tmp_path)).tasks("eval")
    message = str(err.value)
    assert "no playable game for split 'eval' (folder 'valid_seen')" in message
    for split in ("train", "valid_seen", "valid_unseen"):
        assert f"{split}: 0 playable of 0 found" in message
    assert "alfworld-download" in message and "ALFWORLD_DATA" in message


@pytest.fixture
def official_copy(generated, tmp_path):
    """An official-layout folder made of the session's generated games, plus folders the
    loader must skip: movable and sliced tasks, a game without game.tw-pddl, an unsolvable one."""
    root = tmp_path / "alfworld" / "json_2.1.1"
    shutil.copytree(generated.root / "train", root / "train")
    shutil.copytree(generated.root / "valid_unseen", root / "valid_unseen")
    shutil.copytree(generated.root / "valid_unseen", root / "valid_seen")
    source = next((root / "train").glob("*/trial_*"))
    skipped = ("pick_and_place_with_movable_recep-Apple-Bowl-Fridge-1",
               "pick_heat_then_place_in_recep-AppleSliced-None-Fridge-2")
    for name in skipped:
        shutil.copytree(source, root / "train" / name / "trial_T1")
    shutil.copytree(source, root / "train" / "pick_and_place_simple-Book-None-Desk-3" / "trial_T2")
    (root / "train" / "pick_and_place_simple-Book-None-Desk-3" / "trial_T2" / "game.tw-pddl").unlink()
    unsolvable = root / "train" / "pick_and_place_simple-Pen-None-Desk-4" / "trial_T3"
    shutil.copytree(source, unsolvable)
    game = json.loads((unsolvable / "game.tw-pddl").read_text())
    (unsolvable / "game.tw-pddl").write_text(json.dumps({**game, "solvable": False}))
    return tmp_path / "alfworld"


@requires_alfworld
def test_loads_an_official_layout_with_the_right_counts(official_copy, generated):
    games = OfficialGames(data_path=str(official_copy))
    train = games.tasks("train")
    assert [t.uid for t in train] == sorted(t.uid for t in generated.tasks("train"))
    by_uid = {t.uid: t for t in generated.tasks("train")}
    assert all((t.prompt, t.task_type, t.difficulty) == (by_uid[t.uid].prompt, by_uid[t.uid].task_type,
                                                          by_uid[t.uid].difficulty) for t in train)
    assert len(games.tasks("eval")) == 6 and games.tasks("eval")[0].uid.startswith("valid_seen/")
    unseen = OfficialGames(data_path=str(official_copy / "json_2.1.1"), eval_split="valid_unseen", num_train=2)
    assert len(unseen.tasks("train")) == 2 and unseen.tasks("eval")[0].uid.startswith("valid_unseen/")
    heat_only = OfficialGames(data_path=str(official_copy), task_types=["pick_heat_then_place"])
    assert [t.task_type for t in heat_only.tasks("train")] == ["pick_heat_then_place"]


@requires_alfworld
def test_skips_are_counted_in_the_error(official_copy):
    games = OfficialGames(data_path=str(official_copy), task_types=["pick_and_place"], eval_split="valid_seen")
    shutil.rmtree(official_copy / "json_2.1.1" / "valid_seen")
    (official_copy / "json_2.1.1" / "valid_seen").mkdir()
    with pytest.raises(AlfWorldDataError) as err:
        games.tasks("eval")
    message = str(err.value)
    assert "train: 1 playable of 10 found (skipped: 2 movable/sliced" in message
    assert "1 not marked solvable, 5 other task types, 1 without game.tw-pddl" in message
    assert "valid_seen: 0 playable of 0 found" in message and "valid_unseen: 1 playable of 6 found" in message


@requires_alfworld
def test_plays_an_official_game(official_copy, generated):
    games = OfficialGames(data_path=str(official_copy))
    env = AlfWorldEnv(games)
    task = games.tasks("train")[0]
    env.reset(task)
    assert [env.step(c).reward for c in walkthrough(games, task)][-1] == 10.0
    with pytest.raises(AlfWorldDataError, match="not found"):
        games.game_file("train/absent/trial_T0")
