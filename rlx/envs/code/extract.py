"""From a policy's completion to the program that is tested.

1. Drop any reasoning before a closing `</think>`.
2. Code: the first fenced block (```python, ```py or an untagged ```) that defines the entry
   point; else the first such block; else the whole text (a raw program or a body continuation).
   A block left open at the end (a completion cut by the token limit) runs to the end.
3. Program: a solution that defines the entry point gets the problem's preamble (the stub's imports
   and helpers) in front; anything else is taken as the continuation of the stub (HumanEval's
   completion format) when the problem has one.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from rlx.envs.code.problems import CodeProblem

FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
PYTHON_TAGS = {"python", "py", "python3", ""}


@dataclass(frozen=True)
class ExtractedProgram:
    """program: the text to run; fenced: it came from a code block; parses: it is valid Python."""

    program: str
    fenced: bool
    parses: bool


def defines(code: str, name: str) -> bool:
    """`code` defines `name` at top level (function, class or assignment)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return re.search(rf"^(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
    return False


def extract_code(completion: str, entry_point: str) -> tuple[str, bool]:
    """(code, fenced) from a completion (steps 1-2 of the module docstring)."""
    text = completion.rsplit("</think>", 1)[-1]
    blocks = [body for tag, body in FENCE.findall(text) if tag.lower() in PYTHON_TAGS]
    for body in blocks:
        if defines(body, entry_point):
            return body, True
    if blocks:
        return blocks[0], True
    return text, False


def parses(program: str) -> bool:
    try:
        ast.parse(program)
        return True
    except (SyntaxError, ValueError):  # ValueError: source with null bytes
        return False


def build_program(problem: CodeProblem, completion: str) -> ExtractedProgram:
    """The program to test for `completion` (all three steps)."""
    code, fenced = extract_code(completion, problem.entry_point)
    if problem.stub and not defines(code, problem.entry_point):
        program = problem.stub + code
    else:
        program = problem.preamble + textwrap.dedent(code).strip("\n") + "\n"
    return ExtractedProgram(program=program, fenced=fenced, parses=parses(program))
