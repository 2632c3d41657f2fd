"""What one sandboxed execution returns, and which limit (if any) stopped it."""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from typing import Literal

Limit = Literal["wall_time", "cpu_time", "memory", "processes", "file_size"]

# Python reports a failed allocation under RLIMIT_AS as MemoryError; C code says ENOMEM.
_MEMORY = re.compile(r"\bMemoryError\b|Cannot allocate memory|std::bad_alloc|[Oo]ut of memory")
# fork() under RLIMIT_NPROC fails with EAGAIN; threading says "can't start new thread".
_PROCESSES = re.compile(r"Resource temporarily unavailable|can't start new thread")
# Python ignores SIGXFSZ, so a write past RLIMIT_FSIZE raises OSError(EFBIG).
_FILE_SIZE = re.compile(r"File too large")
SIGNAL_EXIT_BASE = 128  # bwrap exits with 128 + N when the program is killed by signal N


@dataclass(frozen=True)
class ExecResult:
    """The outcome of one program run in the sandbox.

    exit_code: the program's exit status; 128 + N when signal N killed it (bwrap's convention),
        -9 when the wall-clock timeout killed the sandbox.
    stdout, stderr: the last `max_output_bytes` of each stream, decoded as UTF-8 (bad bytes replaced).
    timed_out: the wall-clock timeout fired and the sandbox was killed.
    killed_by: the resource limit that stopped the program, when one did (see `limit_hit`).
    wall_s: wall-clock seconds from start to exit (sandbox setup included).
    """

    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    killed_by: Limit | None
    wall_s: float

    @property
    def ok(self) -> bool:
        """Exited with status 0 and no limit was hit."""
        return self.exit_code == 0 and self.killed_by is None


def limit_hit(exit_code: int, stderr: str, timed_out: bool, wall_s: float, cpu_limit_s: float) -> Limit | None:
    """Which limit stopped a run: the wall clock, the CPU-time signal (SIGXCPU; or SIGKILL -- the
    hard limit one second later, for a program that ignores SIGXCPU -- after at least the CPU limit
    in wall time), or -- for limits the kernel enforces by failing a system call --
    the error the program died with, read from the end of `stderr` (a heuristic: a program that
    raises MemoryError by itself is reported as `memory` too)."""
    if timed_out:
        return "wall_time"
    signum = exit_code - SIGNAL_EXIT_BASE if exit_code > SIGNAL_EXIT_BASE else None
    if signum == signal.SIGXCPU or (signum == signal.SIGKILL and wall_s >= cpu_limit_s):
        return "cpu_time"
    if signum == signal.SIGXFSZ:
        return "file_size"
    if exit_code == 0:
        return None
    tail = stderr[-2000:]
    for limit, pattern in (("memory", _MEMORY), ("processes", _PROCESSES), ("file_size", _FILE_SIZE)):
        if pattern.search(tail):
            return limit
    return None
