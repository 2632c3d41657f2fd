"""Prepare tiny run directories and watch SLURM jobs (sacct) for the launcher tests."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from rlx.config.compose import check_overrides
from rlx.launch import prepare

TINY = ["experiment=none", "model=tiny", "logger=none", "iterations=2", "trainer.tasks_per_iter=2",
        "rollout.max_new_tokens=8", "trainer.eval_tasks=2"]
# a job that fits the 2-CPU test node next to another one, without GPUs
SMALL_JOB = ["launcher=slurm", "launcher.gpus_per_node=0", "launcher.cpus_per_task=1", "launcher.time_min=5"]
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
                "BOOT_FAIL", "DEADLINE", "PREEMPTED"}


def prepare_run(tmp_path: Path, *overrides: str) -> Path:
    """A run directory under tmp_path/runs, prepared as `launch.py TINY overrides` would."""
    args = [*TINY, f"runs_root={tmp_path / 'runs'}", *overrides]
    _, run_dir = prepare(check_overrides(args), choices={}, overrides=args)
    return run_dir


def job_states(job_id: str) -> list[str]:
    """The job's states in the accounting database, oldest first (one per (re)start)."""
    out = subprocess.run(["sacct", "-n", "-X", "-P", "--duplicates", "-j", job_id, "-o", "State"],
                         capture_output=True, text=True, timeout=30).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def wait_final(job_id: str, timeout_s: float = 180) -> str:
    """Poll sacct every 0.5 s until the job's latest record is final; return that state."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        states = job_states(job_id)
        if states and states[-1] in FINAL_STATES:
            return states[-1]
        time.sleep(0.5)
    raise TimeoutError(f"job {job_id} not finished after {timeout_s}s (states {job_states(job_id)})")


def wait_for_text(path: Path, text: str, timeout_s: float = 120, every_s: float = 0.1) -> float:
    """Poll until `text` appears in the file at `path`; return time.time() when it was seen."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return time.time()
        time.sleep(every_s)
    raise TimeoutError(f"{text!r} did not appear in {path} within {timeout_s}s")


def task_pids(job_id: str, step: str = "0") -> list[int]:
    """PIDs of the tasks of job step `step` (this node), from `scontrol listpids`."""
    out = subprocess.run(["scontrol", "listpids", job_id], capture_output=True, text=True,
                         timeout=30).stdout.splitlines()[1:]
    return [int(f[0]) for f in (line.split() for line in out) if f[2] == step and f[3] != "-"]
