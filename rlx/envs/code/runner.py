"""The test runner that executes inside the sandbox (its source is prepended to every test
program; it is never imported by rlx). Standard library only.

`run(spec_json)` executes the solution, then the test setup, in one namespace (as HumanEval's
harness does), then each test unit in order in a copy of it (the units share their variables, like
the locals of HumanEval's `check(candidate)`; `candidate` is bound to the entry point).
A failing unit is recorded and the next one runs. Progress is reported on stdout as lines
`<nonce> <json>` (cumulative: passed, failed, the unit running, the first failure), written before
each unit and at the end, so a run killed by a limit still tells how far it got. The nonce is random
per run: output that the solution prints cannot be mistaken for a report, and a solution that exits
early (`exit(0)`, `os._exit(0)`) never produces the final report (`done: true`), so it does not pass.
This guards against accidents and cheap exploits, not against a program that reads the runner's
memory or files, patches the modules the runner uses, or returns objects whose `__eq__` lies.
"""

import ast
import json
import linecache
import os
import sys
import traceback

SOLUTION_FILE = "solution.py"
TEST_FILE = "test"
TEXT_LIMIT = 1500  # characters kept of a traceback
REPR_LIMIT = 300


def _register(filename, source):
    """Let tracebacks show source lines for code compiled from strings."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


_write, _dumps = os.write, json.dumps  # bound before the solution runs (it may rebind os.write)


def _emit(nonce, state):
    try:
        sys.stdout.flush()
    except Exception:  # noqa: BLE001 - the solution may have broken sys.stdout
        pass
    _write(1, ("\n" + nonce + " " + _dumps(state) + "\n").encode("utf-8", "replace"))


def _traceback_text(err):
    """The traceback without the runner's frames (only the solution's and the test's)."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename in (SOLUTION_FILE, TEST_FILE)]
    lines = traceback.format_list(frames) if frames else []
    text = ("Traceback (most recent call last):\n" + "".join(lines) if lines else "")
    text += "".join(traceback.format_exception_only(type(err), err))
    return text[-TEXT_LIMIT:]


def _got_value(test, err, namespace):
    """For `assert left == right` failing without a message: repr(left), else None."""
    if not isinstance(err, AssertionError) or err.args:
        return None
    line = next((f.lineno for f in reversed(traceback.extract_tb(err.__traceback__)) if f.filename == TEST_FILE), None)
    try:
        nodes = [n for n in ast.walk(ast.parse(test)) if isinstance(n, ast.Assert) and n.lineno == line]
        if len(nodes) != 1 or not isinstance(nodes[0].test, ast.Compare) or len(nodes[0].test.ops) != 1:
            return None
        value = eval(compile(ast.Expression(nodes[0].test.left), TEST_FILE, "eval"), namespace)
        return repr(value)[:REPR_LIMIT]
    except BaseException:  # noqa: BLE001 - best effort only
        return None


def run(spec_json):
    spec = json.loads(spec_json)
    nonce, tests = spec["nonce"], spec["tests"]
    state = {"passed": 0, "failed": 0, "total": len(tests), "running": None, "failure": None,
             "error": None, "done": False}
    _emit(nonce, state)
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    for filename, source, what in ((SOLUTION_FILE, spec["solution"], "The program raised an exception"),
                                   ("test_setup.py", spec["setup"], "The test setup failed")):
        _register(filename, source)
        try:
            exec(compile(source, filename, "exec"), namespace)
        except BaseException as err:  # noqa: BLE001 - exit() and friends count as errors too
            state.update(error=f"{what} before the tests ran:\n{_traceback_text(err)}", done=True)
            _emit(nonce, state)
            return
    entry_point = spec.get("entry_point")
    if entry_point and entry_point not in namespace:
        state.update(error=f"The program does not define `{entry_point}`.", done=True)
        _emit(nonce, state)
        return
    # The tests' own variables live apart (like check()'s locals): a test assigning `str = ...`
    # must not change the names the solution's functions see.
    test_namespace = dict(namespace, candidate=namespace.get(entry_point))
    for i, test in enumerate(tests):
        state["running"] = i
        _emit(nonce, state)
        _register(TEST_FILE, test)
        try:
            exec(compile(test, TEST_FILE, "exec"), test_namespace)
            state["passed"] += 1
        except BaseException as err:  # noqa: BLE001 - a failed test, whatever it raised
            state["failed"] += 1
            if state["failure"] is None:
                state["failure"] = {"test": test[:TEXT_LIMIT], "error": _traceback_text(err),
                                    "got": _got_value(test, err, test_namespace)}
    state.update(running=None, done=True)
    _emit(nonce, state)
