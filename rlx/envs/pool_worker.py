"""The process side of `rlx.envs.pool.EnvPool`: one worker hosting several environments.

Protocol over one duplex pipe (pickled tuples):
  pool -> worker: (call, "reset", [(slot, (task, seed)), ...]) | (call, "step", [(slot, action), ...])
                  | (call, "close", None)
  worker -> pool: ("ready", pid) or ("fatal", traceback) once at start (after building the first env);
                  then one ("ok", call, slot, result) or ("error", call, slot, traceback) per item, in
                  order, sent as soon as that item is done (so the pool can time each env call).
`call` numbers the pool's calls, so answers to an abandoned call (the caller was interrupted)
are recognised and dropped.
A Python exception inside an env call is reported as "error" and that env instance is dropped
(closed and rebuilt by the factory at the slot's next reset); the worker itself goes on.

The worker leads its own process group (so the pool can kill it together with any processes
its environments started) and dies with its owner: the kernel kills it when its parent goes
(PR_SET_PDEATHSIG), and a watchdog thread exits when the owning trainer process is gone.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

PR_SET_PDEATHSIG = 1
WATCHDOG_PERIOD_S = 0.5


def worker_main(conn: Connection, env_factory: Callable[[], Any], owner_pid: int) -> None:
    """Entry point of a worker process (the target of `multiprocessing.Process`)."""
    _detach_and_die_with_owner(owner_pid)
    envs: dict[int, Any] = {}
    try:
        envs[0] = env_factory()
    except BaseException:  # noqa: BLE001 - reported to the pool, which raises it
        _send(conn, ("fatal", traceback.format_exc()))
        return
    _send(conn, ("ready", os.getpid()))
    try:
        _serve(conn, env_factory, envs)
    finally:
        for env in envs.values():
            _close_quietly(env)


def _serve(conn: Connection, env_factory: Callable[[], Any], envs: dict[int, Any]) -> None:
    while True:
        try:
            call, command, items = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return  # the pool is gone
        if command == "close":
            return
        for slot, arg in items:
            try:
                if command == "reset":
                    if slot not in envs:
                        envs[slot] = env_factory()
                    result = envs[slot].reset(*arg)
                else:
                    result = envs[slot].step(arg)
                message = pickle.dumps(("ok", call, slot, result), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - env bugs end the episode, not the worker
                message = pickle.dumps(("error", call, slot, traceback.format_exc(limit=8)))
                _close_quietly(envs.pop(slot, None))
            try:
                conn.send_bytes(message)
            except (BrokenPipeError, OSError):
                return


def _send(conn: Connection, message: tuple) -> None:
    try:
        conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
    except (BrokenPipeError, OSError):
        pass


def _close_quietly(env: Any) -> None:
    if env is None:
        return
    try:
        env.close()
    except Exception:  # noqa: BLE001 - closing a broken env must not stop the worker
        pass


def _detach_and_die_with_owner(owner_pid: int) -> None:
    """New process group; ignore the terminal's Ctrl-C (the owner shuts us down); exit with the owner."""
    try:
        os.setsid()
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the watchdog alone
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watchdog() -> None:
        while True:
            time.sleep(WATCHDOG_PERIOD_S)
            if os.getppid() != parent or not _alive(owner_pid):
                os._exit(1)

    threading.Thread(target=watchdog, name="rlx-envpool-watchdog", daemon=True).start()


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a killed owner not yet reaped by its parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: trust kill(0)
    return state not in ("Z", "X")
