"""Run on this machine: in this process, as a fresh `python -m rlx.train RUN_DIR` subprocess,
or as N data-parallel training processes started by torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from rlx.envs.cpus import available_cpus
from rlx.run_dir import read_config


class LocalLauncher:
    """Launch a prepared run directory on this machine.

    mode: `inprocess` runs the training recipe in this Python process; `subprocess` starts
    `python -m rlx.train RUN_DIR` (a clean interpreter that reads everything from the run
    directory, as a SLURM job would) and waits for it.
    nprocs: training processes, an integer or `auto` (one per visible CUDA device, at least 1).
    More than one: `python -m torch.distributed.run --standalone --nproc_per_node N -m
    rlx.train RUN_DIR` starts them (whatever `mode` says) and this waits for them; each uses
    cuda:LOCAL_RANK (nccl), or the CPU with gloo when `device=cpu` or no GPU is visible.
    """

    def __init__(self, mode: Literal["inprocess", "subprocess"] = "inprocess",
                 nprocs: int | Literal["auto"] = 1):
        self.mode = mode
        self.nprocs = nprocs

    def world_size(self, config: Mapping[str, Any]) -> int:
        """`nprocs` resolved on this machine, checked against its GPUs (training on CUDA) or
        CPUs; raises ValueError naming `launcher.nprocs` when they cannot run here."""
        gpus = visible_gpus()
        n = max(gpus, 1) if self.nprocs == "auto" else self.nprocs
        if n < 1:
            raise ValueError(f"launcher.nprocs={n}: must be >= 1 or auto")
        if n == 1:
            return 1
        device = str(config["device"])
        if device.startswith("cuda:"):
            raise ValueError(f"launcher.nprocs={n} with device={device}: each process takes "
                             "cuda:LOCAL_RANK; set device=auto or device=cuda")
        on_gpu = device == "cuda" or (device == "auto" and gpus > 0)
        if on_gpu and n > gpus:
            raise ValueError(f"launcher.nprocs={n}, but this machine has {gpus} visible CUDA "
                             f"device(s) (one process per GPU); use launcher.nprocs<={gpus} or "
                             "auto, or device=cpu for CPU processes")
        cpus = available_cpus()
        if not on_gpu and n > cpus:
            raise ValueError(f"launcher.nprocs={n} CPU processes, but only {cpus} CPU(s) are "
                             f"available; use launcher.nprocs<={cpus}")
        return n

    def launch(self, run_dir: Path) -> dict | None:
        if self.mode == "inprocess" and self.world_size(read_config(run_dir)) == 1:
            from rlx.run_status import tracked
            from rlx.train.recipe import run

            with tracked(run_dir):  # status.json as in subprocess mode (rlx.status reads it)
                return run(run_dir)
        return self._call(self.command(run_dir), run_dir)

    def command(self, run_dir: Path) -> list[str]:
        """The command line that trains `run_dir` in fresh processes (also used by local sweeps)."""
        processes = self.world_size(read_config(run_dir))
        if processes > 1:
            return torchrun_command(run_dir, processes)
        return [sys.executable, "-m", "rlx.train", str(run_dir)]

    @staticmethod
    def _call(cmd: list[str], run_dir: Path) -> None:
        code = subprocess.call(cmd, env=os.environ.copy())
        if code != 0:
            raise SystemExit(f"rlx: training process exited with code {code}; see {run_dir}")
        return None


def torchrun_command(run_dir: Path, nprocs: int) -> list[str]:
    """torchrun on this machine (a free rendezvous port), `nprocs` copies of `rlx.train`."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node", str(nprocs), "-m", "rlx.train", str(run_dir)]


def visible_gpu_ids() -> list[str]:
    """The CUDA devices this process may use, named as CUDA_VISIBLE_DEVICES names them (so a
    child process can be given a subset); [] without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return []
    count = torch.cuda.device_count()
    named = os.environ.get("CUDA_VISIBLE_DEVICES")
    if named is None:
        return [str(i) for i in range(count)]
    return [g.strip() for g in named.split(",") if g.strip()][:count]


def visible_gpus() -> int:
    """How many CUDA devices this process may use."""
    return len(visible_gpu_ids())
