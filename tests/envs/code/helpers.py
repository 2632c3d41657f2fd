"""Small problems for code-env tests that need no dataset."""

import functools

from rlx.envs.code import CodeProblem

ADD = CodeProblem(
    uid="toy-add",
    prompt="Write a function add(a, b) that returns a + b.",
    entry_point="add",
    tests=("assert candidate(1, 2) == 3", "assert add(2, 2) == 4", "assert candidate(-1, 1) == 0"),
    reference="def add(a, b):\n    return a + b\n",
    task_type="toy",
)
SQUARE = CodeProblem(
    uid="toy-square",
    prompt="Write a function square(x).",
    entry_point="square",
    tests=("assert square(3) == 9", "assert square(-2) == 4"),
    test_setup="import math",
    reference="def square(x):\n    return x * x\n",
    task_type="toy",
)


def listed(*problems: CodeProblem):
    """A (picklable) problem source returning `problems`."""
    return functools.partial(list, problems)


def fenced(code: str) -> str:
    return f"Here is my solution.\n```python\n{code}\n```\nDone."
