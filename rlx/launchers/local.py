"""Run on this machine: in this process, or as a fresh `python -m rlx.train RUN_DIR` subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Literal


class LocalLauncher:
    """Launch a prepared run directory on this machine.

    mode: `inprocess` runs the training recipe in this Python process; `subprocess` starts
    `python -m rlx.train RUN_DIR` (a clean interpreter that reads everything from the run
    directory, as a SLURM job would) and waits for it.
    """

    def __init__(self, mode: Literal["inprocess", "subprocess"] = "inprocess"):
        self.mode = mode

    def launch(self, run_dir: Path) -> dict | None:
        if self.mode == "inprocess":
            from rlx.train.recipe import run

            return run(run_dir)
        cmd = [sys.executable, "-m", "rlx.train", str(run_dir)]
        code = subprocess.call(cmd, env=os.environ.copy())
        if code != 0:
            raise SystemExit(f"rlx: training process exited with code {code}; see {run_dir}")
        return None
