import dataclasses

import pytest

from rlx.sandbox import ExecResult, limit_hit


def result(exit_code: int, killed_by=None) -> ExecResult:
    return ExecResult(exit_code=exit_code, stdout="", stderr="", timed_out=False, killed_by=killed_by, wall_s=0.1)


@pytest.mark.parametrize(
    ("exit_code", "stderr", "timed_out", "wall_s", "expected"),
    [
        (0, "", False, 0.1, None),
        (1, "Traceback ...\nZeroDivisionError: division by zero\n", False, 0.1, None),
        (-9, "", True, 3.0, "wall_time"),
        (128 + 24, "", False, 1.0, "cpu_time"),  # SIGXCPU
        (128 + 9, "", False, 2.0, "cpu_time"),  # SIGKILL after the CPU limit
        (128 + 9, "", False, 0.2, None),  # SIGKILL early: not the CPU limit
        (128 + 25, "", False, 0.1, "file_size"),  # SIGXFSZ
        (1, "Traceback ...\nMemoryError\n", False, 0.1, "memory"),
        (1, "BlockingIOError: [Errno 11] Resource temporarily unavailable\n", False, 0.1, "processes"),
        (1, "RuntimeError: can't start new thread\n", False, 0.1, "processes"),
        (1, "OSError: [Errno 27] File too large\n", False, 0.1, "file_size"),
        (0, "MemoryError\n", False, 0.1, None),  # exited cleanly: no limit stopped it
    ],
)
def test_limit_hit(exit_code, stderr, timed_out, wall_s, expected):
    assert limit_hit(exit_code, stderr, timed_out, wall_s, cpu_limit_s=1.0) == expected


def test_ok_means_clean_exit_and_no_limit():
    assert result(0).ok
    assert not result(1).ok
    assert not result(0, killed_by="memory").ok
    with pytest.raises(dataclasses.FrozenInstanceError):
        result(0).exit_code = 1
