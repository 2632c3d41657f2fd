"""Read W&B's offline files back and find this process's W&B service, for the logging tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rlx.logging.wandb_logger import RUN_ID_FILE, history_steps, wandb_files


def wandb_records(wandb_file):
    """Every record of one .wandb file, read back with W&B's own reader."""
    out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(wandb_file)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def all_history_steps(run_dir):
    """The history steps of every W&B file of the run directory's run id, in file order."""
    run_id = (run_dir / RUN_ID_FILE).read_text().strip()
    return [step for f in wandb_files(run_dir, run_id) for step in history_steps(f)]


def service_pids():
    """This process's live wandb-core children."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            exe = (proc / "cmdline").read_bytes().split(b"\0")[0]
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if exe.endswith(b"wandb-core") and int(fields[1]) == os.getpid() and fields[0] != "Z":
            pids.append(int(proc.name))
    return pids


def waitpid_or_zombie(pid, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.05)
