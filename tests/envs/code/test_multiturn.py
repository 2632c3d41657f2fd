import pickle

import pytest

from rlx.envs.code import CodeFeedbackEnv
from rlx.envs.code.multiturn import RETRY_INSTRUCTION, state_key
from rlx.envs.text_env import Observation, TextEnv
from tests.envs.code.helpers import ADD, SQUARE, fenced, listed
from tests.sandbox.helpers import requires_bwrap

RIGHT = fenced("def add(a, b):\n    return a + b")
WRONG = fenced("def add(a, b):\n    return a * b")  # passes add(2, 2) only


def feedback_env(sandbox, **kwargs) -> CodeFeedbackEnv:
    return CodeFeedbackEnv(source=listed(ADD, SQUARE), sandbox=sandbox, **{"num_eval": 1, "max_turns": 3, **kwargs})


@requires_bwrap
def test_satisfies_the_protocol_and_resets_deterministically(sandbox):
    env = feedback_env(sandbox, answer_format="Answer in a code block.")
    assert isinstance(env, TextEnv)
    first = env.reset(ADD.task(), seed=0)
    assert first == env.reset(ADD.task(), seed=123)
    assert first.text == "Write a function add(a, b) that returns a + b.\n\nAnswer in a code block."
    assert (first.admissible, first.state_key) == (None, state_key(0, first.text))


@requires_bwrap
def test_wrong_then_right_gives_feedback_then_success(sandbox):
    env = feedback_env(sandbox)
    env.reset(ADD.task(), seed=0)
    failed = env.step(WRONG)
    assert (failed.reward, failed.terminated, failed.truncated) == (0.0, False, False)
    assert (failed.won, failed.action_valid) == (False, True)
    text = failed.observation.text
    assert text.startswith("2 of 3 tests failed. The first failing test:\nassert candidate(1, 2) == 3\n"
                           'Traceback (most recent call last):\n  File "test", line 1, in <module>\n')
    assert text.endswith(f"AssertionError\nThe left-hand side of that assert was: 2\n\n{RETRY_INSTRUCTION}")
    assert failed.info == {"turn": 1, "passed": 1, "total": 3, "killed_by": None, "fenced": True}
    solved = env.step(RIGHT)
    assert (solved.reward, solved.terminated, solved.truncated, solved.won) == (1.0, True, False, True)
    assert solved.observation.text == "All 3 tests passed."
    assert solved.info["turn"] == 2
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step(RIGHT)


@requires_bwrap
def test_truncated_after_max_turns_with_optional_partial_credit(sandbox):
    env = feedback_env(sandbox, max_turns=2)
    env.reset(ADD.task(), seed=0)
    assert not env.step(WRONG).truncated
    last = env.step(WRONG)
    assert (last.truncated, last.terminated, last.reward) == (True, False, 0.0)
    partial = feedback_env(sandbox, max_turns=1, partial_credit=True, success_reward=3.0)
    partial.reset(ADD.task(), seed=0)
    step = partial.step(WRONG)
    assert (step.truncated, step.reward) == (True, pytest.approx(1.0))  # 3.0 x 1/3 of the tests


@requires_bwrap
def test_feedback_for_syntax_errors_crashes_and_limits(sandbox):
    env = feedback_env(sandbox, max_turns=5)
    env.reset(ADD.task(), seed=0)
    syntax = env.step(fenced("def add(a, b:\n    return a"))
    assert not syntax.action_valid and syntax.reward == 0.0
    assert syntax.observation.text.startswith("The program does not compile:\n  File \"solution.py\", line 1")
    assert "SyntaxError" in syntax.observation.text
    crash = env.step(fenced("import json\nconfig = json.loads('{')\n\ndef add(a, b):\n    return a + b"))
    assert crash.observation.text.startswith("The program raised an exception before the tests ran:\n")
    assert "line 2, in <module>" in crash.observation.text and "JSONDecodeError" in crash.observation.text
    loop = env.step(fenced("def add(a, b):\n    while b:\n        pass\n    return a"))
    assert loop.info["killed_by"] == "cpu_time" and loop.info["passed"] == 0
    assert loop.observation.text.startswith(
        "Your program was stopped: it ran out of CPU time -- an infinite loop or a too slow algorithm?.\n"
        "It was running this test:\nassert candidate(1, 2) == 3")
    empty = env.step("")
    assert not empty.action_valid
    assert empty.observation.text.startswith("The program does not define `add`.")


@requires_bwrap
def test_same_feedback_same_state_key_across_episodes(sandbox):
    env = feedback_env(sandbox)
    keys = []
    for _ in range(2):
        env.reset(ADD.task(), seed=0)
        keys.append(env.step(WRONG).observation.state_key)
    assert keys[0] == keys[1] != state_key(0, "")
    assert state_key(1, "a") != state_key(2, "a") != state_key(2, "b")


@requires_bwrap
def test_env_and_its_messages_pickle(sandbox):
    env = pickle.loads(pickle.dumps(feedback_env(sandbox)))
    observation = env.reset(ADD.task(), seed=0)
    step = env.step(RIGHT)
    assert pickle.loads(pickle.dumps(observation)) == observation
    assert pickle.loads(pickle.dumps(step)) == step and isinstance(step.observation, Observation)
    assert pickle.loads(pickle.dumps(ADD.task())) == ADD.task()
