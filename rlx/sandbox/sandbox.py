"""`Sandbox`: run untrusted Python programs under bubblewrap with resource limits.

```
sandbox = Sandbox(cpu_seconds=5, wall_seconds=10, memory_mb=1024)
result = sandbox.run("print(sum(range(10)))")          # ExecResult(exit_code=0, stdout="45\\n", ...)
results = sandbox.run_many([program_a, program_b])     # concurrently, `workers` at a time
```

Every run is a fresh bubblewrap sandbox (see `rlx.sandbox.bwrap` for what it can see) with:
- CPU time (RLIMIT_CPU: SIGXCPU at `cpu_seconds`, SIGKILL one second later),
- address space (RLIMIT_AS = `memory_mb`), processes/threads (RLIMIT_NPROC = `max_processes`),
  file size (RLIMIT_FSIZE = `max_file_mb`), a `tmp_mb` cap on the writable `/tmp`,
- a wall-clock timeout (`wall_seconds`): the sandbox is killed; everything in it dies with it
  (its own PID namespace; `--die-with-parent`).
Output is read while the program runs and only the last `max_output_bytes` of stdout and of
stderr are kept, so a program printing forever costs bounded memory.

There is no unsandboxed fallback: without bubblewrap the constructor raises `SandboxUnavailable`
saying how to install it, and the first run checks that a sandbox can actually start here (user
namespaces allowed, the Python installation visible, a bwrap that knows --size and --perms, as
Debian 12's 0.8 does) and raises `SandboxUnavailable` otherwise. RLIMIT_AS and RLIMIT_CPU are per
process: a program may use up to `max_processes` x `memory_mb` at once, for at most `wall_seconds`.
A `Sandbox` pickles (settings only) and is cheap to construct, so environments can carry one into
worker processes.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import SimpleQueue
from typing import Literal

from rlx.sandbox.bwrap import MAX_SLOTS, PROGRAM_PATH, bwrap_command, python_install, root_sandbox_uid
from rlx.sandbox.result import ExecResult, limit_hit

LAUNCHER_SOURCE = (Path(__file__).parent / "launcher.py").read_text()
INSTALL_HINT = (
    "Install bubblewrap: `apt-get install bubblewrap` (Debian/Ubuntu), `dnf install bubblewrap` "
    "(Fedora/RHEL), `pacman -S bubblewrap` (Arch); or set the sandbox's `bwrap` option to its path."
)
USERNS_HINT = (
    "bubblewrap needs unprivileged user namespaces when not run as root: check "
    "`sysctl user.max_user_namespaces` (> 0), `kernel.unprivileged_userns_clone=1` (older Debian), "
    "and on Ubuntu 24.04+ `kernel.apparmor_restrict_unprivileged_userns=0` or an AppArmor profile for bwrap."
)
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
KILL_GRACE_S = 2.0  # after a SIGKILL, how long to wait for the pipes to close
MIB = 1 << 20


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing, or cannot create a sandbox on this machine."""


def resolve_bwrap(bwrap: str) -> str:
    """The absolute path of the bwrap executable `bwrap` (a name on PATH or a path), or raise."""
    found = shutil.which(bwrap)
    if found is None:
        raise SandboxUnavailable(
            f"bubblewrap (bwrap) not found at {bwrap!r}. rlx runs generated code only inside a "
            f"bubblewrap sandbox and never without one. {INSTALL_HINT}"
        )
    return found


class Sandbox:
    """Runs Python programs in bubblewrap sandboxes (see the module docstring).

    bwrap: the bubblewrap executable, a name looked up on PATH or a path.
    cpu_seconds: CPU-time limit per run (whole seconds; RLIMIT_CPU).
    wall_seconds: wall-clock limit per run, sandbox start-up included.
    memory_mb: address-space limit per process (RLIMIT_AS).
    max_processes: processes + threads the program may have at once (RLIMIT_NPROC).
    max_file_mb: largest file the program may write (RLIMIT_FSIZE).
    tmp_mb: size of the writable tmpfs at /tmp (counted against the host's memory).
    max_output_bytes: bytes kept from the end of stdout and of stderr each.
    workers: runs at once (`run_many`, and `run` from several threads); None = the CPUs this
        process may use.
    python_env: "base" = the interpreter rlx runs on, standard library only (no virtualenv
        packages); "current" = the running environment with its site-packages.
    """

    def __init__(
        self,
        bwrap: str = "bwrap",
        cpu_seconds: int = 5,
        wall_seconds: float = 10.0,
        memory_mb: int = 1024,
        max_processes: int = 32,
        max_file_mb: int = 16,
        tmp_mb: int = 64,
        max_output_bytes: int = 16384,
        workers: int | None = None,
        python_env: Literal["base", "current"] = "base",
    ):
        for name, value in [("cpu_seconds", cpu_seconds), ("wall_seconds", wall_seconds),
                            ("memory_mb", memory_mb), ("max_processes", max_processes),
                            ("max_file_mb", max_file_mb), ("tmp_mb", tmp_mb),
                            ("max_output_bytes", max_output_bytes)]:
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if workers is not None and not 1 <= workers <= MAX_SLOTS:
            raise ValueError(f"workers must be in [1, {MAX_SLOTS}], got {workers}")
        self.bwrap = resolve_bwrap(bwrap)
        self.cpu_seconds = cpu_seconds
        self.wall_seconds = wall_seconds
        self.memory_mb = memory_mb
        self.max_processes = max_processes
        self.max_file_mb = max_file_mb
        self.tmp_mb = tmp_mb
        self.max_output_bytes = max_output_bytes
        self.workers = workers or min(len(os.sched_getaffinity(0)), MAX_SLOTS)
        self.python_env = python_env
        self._init_runtime()

    # -- pickling: settings only; threads, queues and the start-up check are per process --------

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()
        self._verified = False
        self._slots: SimpleQueue[int] | None = None
        self._pool: ThreadPoolExecutor | None = None

    def __getstate__(self) -> dict:
        runtime = {"_lock", "_verified", "_slots", "_pool"}
        return {k: v for k, v in self.__dict__.items() if k not in runtime}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    # -- public API -------------------------------------------------------------------------------

    def run(self, program: str, stdin: str | None = None) -> ExecResult:
        """Run the Python source `program` (as `__main__`, file `/sandbox/main.py`) with `stdin`
        as its standard input (empty when None). Blocks while `workers` runs are in progress."""
        self._check_once()
        slots = self._slot_queue()
        slot = slots.get()
        try:
            return self._execute(program, stdin, slot)
        finally:
            slots.put(slot)

    def run_many(self, programs: Sequence[str], stdin: Sequence[str | None] | None = None) -> list[ExecResult]:
        """Run `programs` concurrently (`workers` at a time); results in input order."""
        if stdin is not None and len(stdin) != len(programs):
            raise ValueError(f"{len(programs)} programs but {len(stdin)} stdin texts")
        if not programs:
            return []
        self._check_once()
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rlx-sandbox")
        return list(self._pool.map(self.run, programs, stdin or [None] * len(programs)))

    def close(self) -> None:
        """Stop the thread pool (runs in progress finish first). The sandbox stays usable."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __repr__(self) -> str:
        return (f"Sandbox(bwrap={self.bwrap!r}, cpu_seconds={self.cpu_seconds}, wall_seconds={self.wall_seconds}, "
                f"memory_mb={self.memory_mb}, max_processes={self.max_processes}, workers={self.workers})")

    # -- internals --------------------------------------------------------------------------------

    def _slot_queue(self) -> SimpleQueue[int]:
        with self._lock:
            if self._slots is None:
                self._slots = SimpleQueue()
                for slot in range(self.workers):
                    self._slots.put(slot)
            return self._slots

    def _check_once(self) -> None:
        """Start one trivial sandbox per process; raise `SandboxUnavailable` if that fails, so a
        broken setup is never mistaken for failing programs."""
        with self._lock:
            if self._verified:
                return
            try:
                result = self._execute("print('sandbox-ok')", None, slot=0)
                problem = None if result.stdout == "sandbox-ok\n" and result.exit_code == 0 else (
                    f"exit code {result.exit_code}: {result.stderr.strip()[-800:]!r}")
            except OSError as err:
                problem = f"{type(err).__name__}: {err}"
            if problem is not None:
                as_root = os.geteuid() == 0
                raise SandboxUnavailable(
                    f"bubblewrap ({self.bwrap}) could not run a program here "
                    f"({'as root' if as_root else f'as uid {os.geteuid()}'}; {problem}). "
                    + ("" if as_root else USERNS_HINT)
                )
            self._verified = True

    def _execute(self, program: str, stdin: str | None, slot: int) -> ExecResult:
        as_root = os.geteuid() == 0
        interpreter, prefixes = python_install(self.python_env)
        settings = json.dumps({
            "cpu_seconds": self.cpu_seconds,
            "memory_bytes": self.memory_mb * MIB,
            "max_processes": self.max_processes,
            "file_bytes": self.max_file_mb * MIB,
            "uid": root_sandbox_uid(slot) if as_root else None,
            "path": PROGRAM_PATH,
        })
        program_fd = _memfd("rlx-program", program)
        stdin_fd = _memfd("rlx-stdin", stdin) if stdin else None
        try:
            command = bwrap_command(self.bwrap, interpreter, prefixes, LAUNCHER_SOURCE, settings,
                                    program_fd, self.tmp_mb * MIB, as_root)
            start = time.monotonic()
            proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL if stdin_fd is None else stdin_fd,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(program_fd,),
                env=SANDBOX_ENV, start_new_session=True,
            )
        finally:
            os.close(program_fd)
            if stdin_fd is not None:
                os.close(stdin_fd)
        stdout, stderr, timed_out = self._collect(proc, start + self.wall_seconds)
        proc.wait()  # prompt: the pipes closed or the sandbox was killed
        wall_s = time.monotonic() - start
        stderr_text = stderr.decode("utf-8", "replace")
        return ExecResult(
            exit_code=proc.returncode,
            stdout=stdout.decode("utf-8", "replace"),
            stderr=stderr_text,
            timed_out=timed_out,
            killed_by=limit_hit(proc.returncode, stderr_text, timed_out, wall_s, self.cpu_seconds),
            wall_s=wall_s,
        )

    def _collect(self, proc: subprocess.Popen, deadline: float) -> tuple[bytearray, bytearray, bool]:
        """Read both pipes until the process exits and they close, or until `deadline` (then kill).
        Keeps the last `max_output_bytes` of each stream."""
        keep = self.max_output_bytes
        out, err = bytearray(), bytearray()
        pidfd = os.pidfd_open(proc.pid)
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ, out)
        selector.register(proc.stderr, selectors.EVENT_READ, err)
        selector.register(pidfd, selectors.EVENT_READ, None)
        timed_out = exited = False
        try:
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if timed_out:
                        break  # killed, and the pipes still did not close: give up on them
                    timed_out = True
                    _kill_group(proc.pid)
                    deadline = time.monotonic() + KILL_GRACE_S
                    continue
                for key, _ in selector.select(remaining):
                    chunk = b"" if key.data is None else os.read(key.fd, 65536)
                    if not chunk:
                        exited = exited or key.data is None
                        selector.unregister(key.fileobj)
                        continue
                    buffer = key.data
                    buffer += chunk
                    if len(buffer) > 2 * keep:
                        del buffer[:-keep]
        finally:
            selector.close()
            os.close(pidfd)
            proc.stdout.close()
            proc.stderr.close()
        if not exited:
            _kill_group(proc.pid)
        return out[-keep:], err[-keep:], timed_out


def _memfd(name: str, text: str) -> int:
    """An anonymous in-memory file holding `text` (UTF-8), positioned at its start."""
    fd = os.memfd_create(name)  # close-on-exec; Popen hands it on through pass_fds / stdin
    data = text.encode("utf-8")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
