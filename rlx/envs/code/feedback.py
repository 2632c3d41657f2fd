"""The text a multi-turn code episode shows after a failing attempt."""

from __future__ import annotations

from rlx.envs.code.harness import TestReport

LIMIT_TEXT = {
    "wall_time": "it ran out of time (wall-clock limit) -- an infinite loop or a blocking call?",
    "cpu_time": "it ran out of CPU time -- an infinite loop or a too slow algorithm?",
    "memory": "it ran out of memory",
    "processes": "it started too many processes or threads",
    "file_size": "it wrote too large a file",
}


def _clip(text: str, limit: int) -> str:
    """Keep the end of `text` (tracebacks end with the error), marked when cut."""
    return text if len(text) <= limit else "..." + text[-(limit - 3):]


def feedback_text(report: TestReport, tests: tuple[str, ...], max_chars: int) -> str:
    """What went wrong with the attempt, in at most about `max_chars` characters of detail.

    `tests` are the problem's test units (to name the test that was running when a limit hit)."""
    if report.all_passed:
        return f"All {report.total} tests passed."
    if report.killed_by is not None:
        text = f"Your program was stopped: {LIMIT_TEXT.get(report.killed_by, report.killed_by)}."
        if report.running is not None and 0 <= report.running < len(tests):
            text += f"\nIt was running this test:\n{_clip(tests[report.running], max_chars)}"
        return text
    if report.error is not None:
        return _clip(report.error, max_chars)
    failed = report.total - report.passed
    test = _clip(report.failing_test or "", max_chars // 2)
    text = f"{failed} of {report.total} tests failed. The first failing test:\n{test}"
    if report.failure:
        text += f"\n{_clip(report.failure.strip(), max_chars // 2)}"
    if report.got is not None:
        text += f"\nThe left-hand side of that assert was: {report.got}"
    return text
