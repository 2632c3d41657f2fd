from rlx.envs.code.extract import build_program, defines, extract_code, parses
from tests.envs.code.helpers import ADD
from rlx.envs.code import CodeProblem

STUB = 'from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Sum of xs."""\n'
WITH_STUB = CodeProblem(uid="s", prompt="p", entry_point="total", tests=("assert total([1]) == 1",),
                        stub=STUB, preamble="from typing import List\n\n\n")


def test_block_defining_the_entry_point_wins():
    completion = "Helper:\n```python\nprint('demo')\n```\nSolution:\n```py\ndef add(a, b):\n    return a + b\n```"
    assert extract_code(completion, "add") == ("def add(a, b):\n    return a + b\n", True)


def test_first_python_block_when_none_defines_it_and_raw_text_without_blocks():
    assert extract_code("```python\nx = 1\n```\n```\ny = 2\n```", "add") == ("x = 1\n", True)
    assert extract_code("```bash\nls\n```", "add") == ("```bash\nls\n```", False)
    assert extract_code("def add(a, b): return a + b", "add") == ("def add(a, b): return a + b", False)


def test_reasoning_is_dropped_and_an_unclosed_block_runs_to_the_end():
    completion = "<think>```python\ndef add(a, b): return 0\n```</think>\n```python\ndef add(a, b):\n    return a + b"
    assert extract_code(completion, "add") == ("def add(a, b):\n    return a + b", True)


def test_program_for_a_problem_without_stub():
    program = build_program(ADD, "```python\n    def add(a, b):\n        return a + b\n```")
    assert program.program == "def add(a, b):\n    return a + b\n"  # dedented
    assert program.fenced and program.parses


def test_full_function_gets_the_stub_preamble_body_continues_the_stub():
    full = build_program(WITH_STUB, "```python\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```")
    assert full.program == "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n"
    body = build_program(WITH_STUB, "    return sum(xs)\n")
    assert body.program == STUB + "    return sum(xs)\n" and not body.fenced and body.parses


def test_defines_and_parses():
    assert defines("def add(a, b):\n    pass", "add") and defines("add = lambda a, b: a + b", "add")
    assert defines("class add:\n    pass", "add") and not defines("def adder(): pass", "add")
    assert defines("def add(a, b:\n    broken", "add")  # falls back to a regex on bad syntax
    assert parses("x = 1") and not parses("def f(:") and not parses("x = '\0'")
