import importlib.util
import pickle

import pytest

from rlx.envs.alfworld import AlfWorldEnv, normalize_action
from rlx.envs.alfworld.engine import require_alfworld
from rlx.envs.text_env import TextEnv
from tests.envs.alfworld.conftest import requires_alfworld, walkthrough


def test_normalize_action():
    assert normalize_action("  Go  to\tDesk 1 \n") == "go to desk 1"


def test_missing_package_error_names_the_install_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "alfworld" else real(name, *a))
    with pytest.raises(ImportError, match=r"'alfworld' is not installed.*pip install 'rlx\[alfworld\]'"):
        require_alfworld()


@pytest.fixture
def env(generated):
    environment = AlfWorldEnv(generated)
    yield environment
    environment.close()


@requires_alfworld
def test_satisfies_protocol_and_lists_tasks(env, generated):
    assert isinstance(env, TextEnv)
    assert env.tasks("train") == generated.tasks("train")
    assert not {t.uid for t in env.tasks("train")} & {t.uid for t in env.tasks("eval")}


@requires_alfworld
def test_scripted_episode_to_success(env, generated):
    task = generated.tasks("train")[3]  # pick_heat_then_place
    obs = env.reset(task, seed=0)
    assert obs.text.startswith("-= Welcome to TextWorld, ALFRED! =-")
    assert obs.text.endswith(f"Your task is to: {task.prompt}.")
    assert "help" not in obs.admissible and "look" in obs.admissible and "inventory" in obs.admissible
    commands = walkthrough(generated, task)
    steps = [env.step(c.upper()) for c in commands]  # case and spacing do not matter
    assert [s.reward for s in steps] == [0.0] * (len(commands) - 1) + [10.0]
    assert [s.terminated for s in steps] == [False] * (len(commands) - 1) + [True]
    assert steps[-1].won and not steps[-1].truncated and all(s.action_valid for s in steps)
    assert any("heat" in s.info["action"] for s in steps)
    assert steps[-1].info == {"task_type": "pick_heat_then_place", "steps": len(commands), "action": commands[-1]}
    with pytest.raises(RuntimeError, match="reset"):
        env.step("look")


@requires_alfworld
def test_wrong_actions_until_truncation(env, generated):
    task = generated.tasks("train")[0]
    env.reset(task)
    steps = [env.step("inventory" if i % 2 else "fly to the moon") for i in range(50)]
    assert [s.action_valid for s in steps[:4]] == [False, True, False, True]
    assert steps[0].observation.text == "Nothing happens."
    assert steps[1].observation.text == "You are not carrying anything."
    assert all(s.reward == 0.0 and not s.won and not s.terminated for s in steps)
    assert [s.truncated for s in steps] == [False] * 49 + [True]
    with pytest.raises(RuntimeError):
        env.step("look")


@requires_alfworld
def test_max_steps_and_success_reward_are_configurable(generated):
    task = generated.tasks("train")[1]  # look_at_obj_in_light
    short = AlfWorldEnv(generated, max_steps=3)
    short.reset(task)
    assert [short.step("look").truncated for _ in range(3)] == [False, False, True]
    unit = AlfWorldEnv(generated, success_reward=1.0)
    unit.reset(task)
    assert [unit.step(c).reward for c in walkthrough(generated, task)][-1] == 1.0
    with pytest.raises(ValueError, match="max_steps"):
        AlfWorldEnv(generated, max_steps=0)


@requires_alfworld
def test_group_resets_are_identical_and_state_key_sees_hidden_state(env, generated):
    task = generated.tasks("train")[0]  # pick_and_place: take the object, come back
    first = env.reset(task, seed=1)
    assert env.reset(task, seed=2) == first  # the seed does not change the game
    commands = walkthrough(generated, task)
    take = next(i for i, c in enumerate(commands) if c.startswith("take "))
    place = commands[take].split(" from ")[1]
    for c in commands[: take + 1]:
        env.step(c)
    other = next(a for a in env._admissible if a.startswith("go to ") and a != f"go to {place}")
    away, back = env.step(other), env.step(f"go to {place}")
    env.reset(task)
    for c in commands[:take]:
        env.step(c)
    env.step(other)
    back_empty_handed = env.step(f"go to {place}")
    assert back.observation.text != back_empty_handed.observation.text  # the object is gone from it
    env.reset(task)
    away_empty_handed = env.step(other)
    assert away.observation.text == away_empty_handed.observation.text
    assert away.observation.state_key != away_empty_handed.observation.state_key  # holding vs not
    assert away.observation.state_key.startswith(away.observation.text + "\n#")


@requires_alfworld
def test_examining_does_not_change_the_state_key(env, generated):
    task = generated.tasks("train")[0]
    start = env.reset(task)
    env.step("look")
    env.step("inventory")
    assert env.step("look").observation.state_key == env.step("look").observation.state_key
    assert start.state_key != env.step("look").observation.state_key  # other text


@requires_alfworld
def test_tasks_observations_and_steps_pickle(env, generated):
    task = generated.tasks("eval")[5]
    obs = env.reset(task)
    step = env.step(obs.admissible[0])
    for value in (task, obs, step):
        assert pickle.loads(pickle.dumps(value)) == value
    assert pickle.loads(pickle.dumps(generated)).game_file(task.uid) == generated.game_file(task.uid)
