"""Run a program against a problem's tests in the sandbox and read back a `TestReport`.

The sandboxed program is `rlx/envs/code/runner.py` followed by a call with the problem's tests and
the candidate program (see that file for the protocol). The report is read from the last
`<nonce> <json>` line of stdout; a run that ends without the final report -- killed by a limit,
or exited early -- is not a pass.
"""

from __future__ import annotations

import json
import secrets
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rlx.envs.code.problems import CodeProblem
from rlx.sandbox import ExecResult, Sandbox

RUNNER_SOURCE = (Path(__file__).parent / "runner.py").read_text()


@dataclass(frozen=True)
class TestReport:
    """The verdict on one program.

    passed, total: test units passed / run in all (`total` = the problem's units).
    finished: the runner reached its end (no crash, no limit, no early exit).
    error: why the tests could not run (the program raised, or does not define the entry point).
    failing_test, failure, got: the first failing unit's source, its trimmed traceback, and for a
        bare `assert x == y` the repr of x.
    running: the unit that was running when the program was stopped, if known.
    killed_by: the sandbox limit that stopped the run (`wall_time`, `cpu_time`, `memory`, ...).
    """

    __test__ = False  # not a pytest test class

    passed: int
    total: int
    finished: bool
    error: str | None = None
    failing_test: str | None = None
    failure: str | None = None
    got: str | None = None
    running: int | None = None
    killed_by: str | None = None

    @property
    def all_passed(self) -> bool:
        return self.finished and self.error is None and self.total > 0 and self.passed == self.total

    @property
    def fraction(self) -> float:
        """Fraction of test units passed (0 when none ran)."""
        return self.passed / self.total if self.total else 0.0


def build_test_program(problem: CodeProblem, program: str, nonce: str) -> str:
    """The full program to run in the sandbox: the runner, then the call with everything it needs."""
    spec = {"nonce": nonce, "solution": program, "setup": problem.test_setup,
            "tests": list(problem.tests), "entry_point": problem.entry_point}
    return f"{RUNNER_SOURCE}\n\nrun({json.dumps(spec)!r})\n"


def read_report(result: ExecResult, nonce: str, total: int) -> TestReport:
    """The `TestReport` from a sandbox result (the last report line carrying `nonce`)."""
    state = None
    for line in reversed(result.stdout.splitlines()):
        _, found, payload = line.partition(nonce + " ")
        if found:
            try:
                state = json.loads(payload)
                break
            except json.JSONDecodeError:
                continue
    killed_by = result.killed_by
    if state is None:
        stopped = killed_by or f"exit code {result.exit_code}"
        return TestReport(passed=0, total=total, finished=False, killed_by=killed_by,
                          error=f"The program stopped before any test ran ({stopped}).\n{result.stderr[-800:]}".strip())
    failure = state["failure"] or {}
    finished = bool(state["done"]) and result.exit_code == 0 and killed_by is None
    error = state["error"]
    if killed_by is None and error is None and not finished:
        running = state["running"]
        where = ("after the tests" if state["done"] else "before the tests ran" if running is None
                 else f"during test {running + 1} of {total}")
        error = f"The program exited {where} (exit code {result.exit_code})."
    return TestReport(
        passed=int(state["passed"]), total=total, finished=finished, error=error,
        failing_test=failure.get("test"), failure=failure.get("error"), got=failure.get("got"),
        running=state["running"], killed_by=killed_by,
    )


def syntax_error(program: str) -> str | None:
    """The SyntaxError a program would raise (compiled here, never run), or None."""
    try:
        compile(program, "solution.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as err:
        return "The program does not compile:\n" + "".join(traceback.format_exception_only(type(err), err)).rstrip()
    return None


def run_tests(sandbox: Sandbox, problems: Sequence[CodeProblem], programs: Sequence[str]) -> list[TestReport]:
    """Test `programs[i]` against `problems[i]`, concurrently in the sandbox. A program that does
    not compile is reported with its SyntaxError without starting a sandbox."""
    if len(problems) != len(programs):
        raise ValueError(f"{len(problems)} problems but {len(programs)} programs")
    reports: list[TestReport | None] = [None] * len(programs)
    jobs = []
    for i, (problem, program) in enumerate(zip(problems, programs)):
        error = syntax_error(program)
        if error is not None:
            reports[i] = TestReport(passed=0, total=len(problem.tests), finished=False, error=error)
        else:
            jobs.append((i, secrets.token_hex(16)))
    results = sandbox.run_many([build_test_program(problems[i], programs[i], nonce) for i, nonce in jobs])
    for (i, nonce), result in zip(jobs, results):
        reports[i] = read_report(result, nonce, len(problems[i].tests))
    return reports
