"""`<run_dir>/status.json`: what the training process says about itself (running, done, failed).

Written by the process that trains (rank 0 only), so `python -m rlx.status` can tell a finished
run from a crashed one on any launcher, with the error's last lines for failures.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rlx.utils.files import write_text_atomic

STATUS_FILE = "status.json"
ERROR_LINES = 20


def write_status(run_dir: Path, state: str, **fields: Any) -> None:
    """Atomically replace the run's status file (skipped on ranks other than 0)."""
    if int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")) or 0) != 0:
        return
    path = Path(run_dir) / STATUS_FILE
    body = {"state": state, "at": _dt.datetime.now().isoformat(timespec="seconds"),
            "host": socket.gethostname(), "pid": os.getpid(),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"), **fields}
    write_text_atomic(path, json.dumps(body, indent=2))


def read_status(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / STATUS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@contextmanager
def tracked(run_dir: Path) -> Iterator[None]:
    """Mark the run `running` now, then `done`, `stopped` (a clean stop after a checkpoint, to be
    resumed, e.g. a SLURM requeue), or `failed` with the traceback's last lines."""
    write_status(run_dir, "running")
    try:
        yield
    except SystemExit as err:  # a clean stop on a signal, after a checkpoint (e.g. SLURM requeue)
        if err.code in (None, 0) or not str(err.code).startswith("rlx: stopped"):
            write_status(run_dir, "failed" if err.code not in (None, 0) else "done", error=str(err.code))
        else:
            write_status(run_dir, "stopped", reason=str(err.code))
        raise
    except BaseException as err:
        lines = traceback.format_exception(err)
        tail = "".join(lines).rstrip().splitlines()[-ERROR_LINES:]
        state = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        write_status(run_dir, state, error=f"{type(err).__name__}: {err}", error_tail=tail)
        raise
    write_status(run_dir, "done")
