import time

import pytest

from rlx.envs.base import Score, SingleTurnEnv
from rlx.envs.code import CodeEnv, HumanEvalTasks
from rlx.envs.code.env import reward_from_report
from rlx.envs.code.harness import TestReport
from tests.envs.code.helpers import ADD, SQUARE, fenced, listed
from tests.sandbox.helpers import requires_bwrap, requires_humaneval

CORRECT_ADD = "def add(a, b):\n    return a + b"
HOSTILE = {
    "infinite loop": "while True:\n    pass",
    "sleep forever": "import time\ntime.sleep(1000)",
    "fork bomb": "import os\nwhile True:\n    os.fork()",
    "memory bomb": "x = []\nwhile True:\n    x.append(bytearray(10**7))",
    "network": "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)",
    "read /etc/shadow": "print(open('/etc/shadow').read())",
    "write outside /tmp": "open('/usr/pwned', 'w').write('x')",
    "exit early with 0": "import sys\nsys.exit(0)",
    "hard exit with 0": "import os\nos._exit(0)",
    "fake report, then exit": "import os\n"
                              "print('\\n0123456789abcdef {\"passed\": 3, \"total\": 3, \"done\": true}')\n"
                              "os._exit(0)",
}


def toy_env(sandbox, **kwargs) -> CodeEnv:
    return CodeEnv(source=listed(ADD, SQUARE), sandbox=sandbox, **{"num_eval": 1, **kwargs})


@requires_bwrap
def test_hostile_programs_score_zero_promptly_and_training_goes_on(sandbox):
    """Each hostile snippet runs before a correct `add`: none may pass, all must end within limits."""
    env = toy_env(sandbox)
    completions = [fenced(f"{code}\n\n{CORRECT_ADD}") for code in HOSTILE.values()]
    start = time.monotonic()
    scores = env.score([ADD.task()] * len(completions), completions)
    seconds = time.monotonic() - start
    assert {name: (s.reward, s.correct) for name, s in zip(HOSTILE, scores)} == {name: (0.0, False) for name in HOSTILE}
    assert seconds < 10.0  # 2 workers; the slowest runs end at their 2 s CPU / 4 s wall limits
    assert env.score([ADD.task()], [fenced(CORRECT_ADD)])[0].reward == 1.0


@requires_bwrap
def test_score_right_wrong_partial_and_unparseable(sandbox):
    env = toy_env(sandbox)
    tasks = [ADD.task()] * 4
    completions = [fenced(CORRECT_ADD), fenced("def add(a, b):\n    return a - b"),
                   "def add(a, b):\n    return abs(a) + b", fenced("def add(a, b:\n    return 0")]
    assert env.score(tasks, completions) == [
        Score(1.0, True, True, CORRECT_ADD + "\n"),
        Score(0.0, False, True, "def add(a, b):\n    return a - b\n"),
        Score(0.0, False, True, "def add(a, b):\n    return abs(a) + b\n"),
        Score(0.0, False, False, "def add(a, b:\n    return 0\n"),
    ]
    partial = toy_env(sandbox, partial_credit=True, correct_reward=2.0)
    rewards = [s.reward for s in partial.score(tasks, completions)]
    assert rewards == [2.0, 0.0, pytest.approx(2.0 * 2 / 3), 0.0]  # abs(a) + b fails add(-1, 1) only
    with pytest.raises(ValueError, match="4 tasks but 1 completions"):
        env.score(tasks, completions[:1])


def test_reward_from_report():
    passed = TestReport(passed=3, total=3, finished=True)
    half = TestReport(passed=1, total=2, finished=True)
    crashed = TestReport(passed=2, total=2, finished=False, killed_by="memory")
    assert [reward_from_report(r, 1.0, False) for r in (passed, half, crashed)] == [1.0, 0.0, 0.0]
    assert [reward_from_report(r, 1.0, True) for r in (passed, half, crashed)] == [1.0, 0.5, 1.0]


@requires_bwrap
def test_messages_and_splits(sandbox):
    env = toy_env(sandbox, system_prompt="Be terse.", answer_format="Use a code block.")
    assert isinstance(env, SingleTurnEnv)
    assert env.messages(ADD.task()) == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Write a function add(a, b) that returns a + b.\n\nUse a code block."},
    ]
    assert toy_env(sandbox, system_prompt="", answer_format="").messages(ADD.task()) == [
        {"role": "user", "content": ADD.prompt}]
    train, held_out = env.tasks("train"), env.tasks("eval")
    assert (len(train), len(held_out)) == (1, 1) and train[0].uid != held_out[0].uid
    with pytest.raises(KeyError, match="no code problem with uid 'nope'"):
        env.score([ADD.task().__class__("nope", "p", "a")], ["x"])


@requires_bwrap
@requires_humaneval
def test_humaneval_split_is_seeded_and_disjoint(sandbox):
    env = CodeEnv(source=HumanEvalTasks(), sandbox=sandbox, num_eval=64, seed=3)
    train, held_out = env.tasks("train"), env.tasks("eval")
    assert (len(train), len(held_out)) == (100, 64)
    assert not {t.uid for t in train} & {t.uid for t in held_out}
    assert {t.task_type for t in train} == {"humaneval"}
    assert CodeEnv(source=HumanEvalTasks(), sandbox=sandbox, num_eval=64, seed=3).tasks("eval") == held_out
    assert CodeEnv(source=HumanEvalTasks(), sandbox=sandbox, num_eval=64, seed=4).tasks("eval") != held_out


@requires_bwrap
@requires_humaneval
def test_humaneval_canonical_scores_one_and_a_wrong_solution_zero(sandbox):
    env = CodeEnv(source=HumanEvalTasks(limit=3), sandbox=sandbox, num_eval=1)
    task = next(t for t in [*env.tasks("train"), *env.tasks("eval")] if t.uid == "humaneval-2")  # truncate_number
    body = task.answer.split('"""')[-1]  # the canonical body, as a chat model would write the whole function
    full = "def truncate_number(number: float) -> float:" + body
    right, wrong = env.score([task, task], [fenced(full), fenced("def truncate_number(number):\n    return number")])
    assert (right.reward, right.correct) == (1.0, True)
    assert (wrong.reward, wrong.correct) == (0.0, False)
