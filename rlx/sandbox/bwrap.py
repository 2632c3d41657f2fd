"""The bubblewrap command line for one sandboxed Python run.

The sandbox sees: the system (`/usr` and the merged-usr links) and the Python installation,
read-only; a private size-capped tmpfs at `/tmp` (the working directory, the only writable
place); the program, read-only, at `/sandbox/main.py`; fresh `/proc` and `/dev`. Nothing else of
the host file system (no `/etc` beyond the loader cache and time zone, no home directories, no
repository). Every namespace is new: no network (only a down loopback), no view of host
processes, IPC or hostname. bwrap drops all capabilities and sets no_new_privs.

Unprivileged, `--unshare-all` puts the sandbox in a new user namespace. As real root a user
namespace would keep the program's kernel uid at 0, which the kernel exempts from RLIMIT_NPROC,
so root instead unshares the other namespaces, keeps only CAP_SETUID/CAP_SETGID for the launcher,
and the launcher switches to an unused uid (see `root_sandbox_uid`) before running the program.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

PROGRAM_PATH = "/sandbox/main.py"
WORK_DIR = "/tmp"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/localtime")
# Namespaces for real root: --unshare-all minus the user namespace (see the module docstring).
ROOT_NAMESPACES = ("--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try")
ROOT_UID_BASE = 1 << 30  # far above login uids (1000+) and subordinate-uid ranges (100000+)
MAX_SLOTS = 256


def root_sandbox_uid(slot: int, pid: int | None = None) -> int:
    """The uid a root-started sandbox runs as: unique per (process, concurrency slot), so that
    RLIMIT_NPROC (counted per uid) is one sandbox's budget, not shared with other sandboxes."""
    if not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"slot {slot} outside [0, {MAX_SLOTS})")
    return ROOT_UID_BASE + (os.getpid() if pid is None else pid) * MAX_SLOTS + slot


def python_install(env: Literal["base", "current"]) -> tuple[str, list[str]]:
    """(interpreter, directories to expose) for the sandbox's Python.

    base: the interpreter rlx runs on without its virtual environment: the standard library
        (and that installation's own site-packages) only.
    current: the running environment itself, site-packages included (numpy, ...).
    """
    if env == "base":
        interpreter = getattr(sys, "_base_executable", None) or sys.executable
        prefixes = [sys.base_prefix, sys.base_exec_prefix]
    else:
        interpreter = sys.executable
        prefixes = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]
    prefixes.append(str(Path(os.path.realpath(interpreter)).parent.parent))
    return interpreter, prefixes


def _covered(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def read_only_binds(prefixes: Sequence[str]) -> list[str]:
    """bwrap arguments exposing the system directories and `prefixes` read-only at their own paths.

    Parent directories of a prefix (e.g. `/root/.pyenv/versions` for a pyenv Python) are created
    in the sandbox with mode 0755, so an unprivileged uid can reach the prefix even when the
    host's parent is private."""
    args: list[str] = []
    bound: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
            bound.append(path)
    for parent in sorted({os.path.dirname(path) for path in SYSTEM_FILES}):
        args += ["--perms", "0755", "--dir", parent]  # bwrap would make it 0700: unreachable after the uid drop
    for path in SYSTEM_FILES:
        args += ["--ro-bind-try", path, path]
    wanted, made = set(), set()
    for prefix in prefixes:
        for path in (os.path.abspath(prefix), os.path.realpath(prefix)):
            if os.path.isdir(path) and not _covered(path, bound):
                wanted.add(path)
    for path in sorted(wanted, key=lambda p: (p.count("/"), p)):
        if _covered(path, bound):
            continue
        for parent in reversed(Path(path).parents[:-1]):  # "/a", "/a/b", ... (not "/")
            if not _covered(str(parent), bound) and parent not in made:
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += ["--ro-bind", path, path]
        bound.append(path)
    return args


def bwrap_command(
    bwrap: str,
    interpreter: str,
    prefixes: Sequence[str],
    launcher_source: str,
    launcher_settings_json: str,
    program_fd: int,
    tmp_bytes: int,
    as_root: bool,
) -> list[str]:
    """The full argv: bwrap options, then `python -I -B -c <launcher> <settings>`.

    program_fd: an open file descriptor (inherited by bwrap) holding the program text; bwrap
        copies it to the read-only `/sandbox/main.py`.
    tmp_bytes: size cap of the writable tmpfs at `/tmp`.
    as_root: the caller is real root (see the module docstring).
    """
    if as_root:
        namespaces = [*ROOT_NAMESPACES, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        namespaces = ["--unshare-all"]
    return [
        bwrap,
        *namespaces,
        "--die-with-parent",
        "--new-session",
        "--hostname", "sandbox",
        # /tmp first: a Python installed under /tmp is then bound on top of it, not hidden by it
        "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", WORK_DIR,
        *read_only_binds(prefixes),
        "--proc", "/proc",
        "--dev", "/dev",
        "--perms", "0755", "--dir", os.path.dirname(PROGRAM_PATH),
        "--perms", "0444", "--ro-bind-data", str(program_fd), PROGRAM_PATH,
        "--remount-ro", "/",
        "--chdir", WORK_DIR,
        "--",
        interpreter, "-I", "-B", "-c", launcher_source, launcher_settings_json,
    ]
