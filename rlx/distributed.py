"""The process layout of a run and the few collectives the trainer needs.

One training process per GPU (or N CPU processes with gloo), started by torchrun
(`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT`) or by SLURM, one task
per GPU (`SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID`; the master is the first host of
the job's node list, the port is derived from the job id). With a world size of 1 (or none
of these variables) the run is a single process: no process group is created and every
helper below returns its input unchanged, so single-process training is exactly as before.

Every helper takes the `ProcessLayout`, so nothing depends on hidden global state beyond
torch's default process group, which `start` creates and `stop` destroys.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn

Source = Literal["single", "torchrun", "slurm", "manual"]  # manual: e.g. torch.multiprocessing
DEFAULT_PORT = 29500
SLURM_PORT_BASE, SLURM_PORT_SPAN = 20000, 20000  # ports 20000..39999, one per job id


@dataclass(frozen=True)
class ProcessLayout:
    """Where this process sits among the run's training processes.

    rank: 0..world_size-1 (rank 0 logs, prints and writes checkpoints).
    local_rank: the index on this node (the GPU this process uses).
    master_addr, master_port: rendezvous of the process group.
    source: who started the processes (`single` when there is one process).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = DEFAULT_PORT
    source: Source = "single"

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def share(self, n: int) -> slice:
        """This rank's contiguous share of `n` items: sizes differ by at most one, the
        first `n % world_size` ranks take one more (a rank may get none when n < world)."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))


def process_layout(env: Mapping[str, str] | None = None,
                   hostnames: Callable[[str], list[str]] | None = None) -> ProcessLayout:
    """Read the layout from torchrun's variables, else SLURM's, else a single process.

    env: the environment (default `os.environ`). hostnames: expands a SLURM node list
    (default `scontrol show hostnames`); only called for a multi-task SLURM step.
    """
    env = os.environ if env is None else env
    if "WORLD_SIZE" in env and "RANK" in env:  # torchrun (also inside a SLURM job)
        world = int(env["WORLD_SIZE"])
        if world <= 1:
            return ProcessLayout()
        return ProcessLayout(
            rank=int(env["RANK"]), world_size=world, local_rank=int(env.get("LOCAL_RANK", 0)),
            master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
            master_port=int(env.get("MASTER_PORT", DEFAULT_PORT)), source="torchrun")
    if "SLURM_NTASKS" in env and "SLURM_PROCID" in env:
        world = int(env["SLURM_NTASKS"])
        if world <= 1:
            return ProcessLayout()
        nodelist = env.get("SLURM_STEP_NODELIST") or env["SLURM_JOB_NODELIST"]
        master = env.get("MASTER_ADDR") or (hostnames or scontrol_hostnames)(nodelist)[0]
        port = int(env["MASTER_PORT"]) if "MASTER_PORT" in env else slurm_port(env["SLURM_JOB_ID"])
        return ProcessLayout(
            rank=int(env["SLURM_PROCID"]), world_size=world,
            local_rank=int(env.get("SLURM_LOCALID", 0)), master_addr=master, master_port=port,
            source="slurm")
    return ProcessLayout()


def slurm_port(job_id: str | int) -> int:
    """A rendezvous port that every task of job `job_id` derives alike (array tasks too:
    `123_4` -> from 123 and 4), spread over 20000..39999 so that concurrent jobs on one
    node rarely meet."""
    digits = [int(part) for part in re.findall(r"\d+", str(job_id))] or [0]
    key = digits[0] * 1009 + sum(digits[1:])
    return SLURM_PORT_BASE + key % SLURM_PORT_SPAN


def scontrol_hostnames(nodelist: str) -> list[str]:
    """`scontrol show hostnames NODELIST` (e.g. "gpu[01-02]" -> ["gpu01", "gpu02"]); a
    single plain host name is returned as is without asking scontrol."""
    if re.fullmatch(r"[\w.-]+", nodelist):
        return [nodelist]
    out = subprocess.run(["scontrol", "show", "hostnames", nodelist], check=True,
                         capture_output=True, text=True, timeout=60)
    return out.stdout.split()


def device_for(layout: ProcessLayout, name: str) -> torch.device:
    """The config's `device` for this process: `auto` = CUDA if available, else CPU; with
    several processes, CUDA means `cuda:LOCAL_RANK` (an explicit `cuda:N` is refused)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if not layout.distributed or device.type != "cuda":
        return device
    if device.index is not None:
        raise ValueError(f"device={name}: with {layout.world_size} training processes each "
                         "uses cuda:LOCAL_RANK; set device=auto or device=cuda")
    return torch.device("cuda", layout.local_rank)


def start(layout: ProcessLayout, device: torch.device, timeout_s: float = 1800.0) -> None:
    """Create the default process group (nccl on CUDA, gloo on CPU); nothing for one process."""
    if not layout.distributed or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    # torchrun's agent already serves a store at MASTER_ADDR:MASTER_PORT: join it via env://
    init = "env://" if layout.source == "torchrun" else \
        f"tcp://{layout.master_addr}:{layout.master_port}"
    dist.init_process_group(
        "nccl" if device.type == "cuda" else "gloo", init_method=init, rank=layout.rank,
        world_size=layout.world_size, timeout=timedelta(seconds=timeout_s),
        device_id=device if device.type == "cuda" else None)


def stop(layout: ProcessLayout) -> None:
    """Destroy the process group `start` created."""
    if layout.distributed and dist.is_initialized():
        dist.destroy_process_group()


def _comm_device() -> torch.device:
    """Where collectives' tensors must live: the current GPU for nccl, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: torch.Tensor | Sequence[float], layout: ProcessLayout
                   ) -> torch.Tensor | list[float]:
    """Element-wise sums over all ranks of a tensor (returned on its device, same dtype) or
    of a list of floats (float64 on the wire). One process: the values unchanged."""
    if isinstance(values, torch.Tensor):
        if not layout.distributed:
            return values
        t = values.detach().to(_comm_device(), copy=True)
        dist.all_reduce(t)
        return t.to(values.device)
    if not layout.distributed:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return t.tolist()


def all_reduce_mean(values: torch.Tensor | Sequence[float], layout: ProcessLayout
                    ) -> torch.Tensor | list[float]:
    """Element-wise means over all ranks (see `all_reduce_sum`)."""
    total = all_reduce_sum(values, layout)
    if isinstance(total, torch.Tensor):
        return total / layout.world_size
    return [v / layout.world_size for v in total]


def all_reduce_max(value: int, layout: ProcessLayout) -> int:
    if not layout.distributed:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def all_gather_objects(obj: Any, layout: ProcessLayout) -> list[Any]:
    """[rank 0's obj, rank 1's obj, ...] on every rank (picklable objects; tensors come back
    on the CPU). One process: [obj]."""
    if not layout.distributed:
        return [obj]
    gathered: list[Any] = [None] * layout.world_size
    dist.all_gather_object(gathered, _to_cpu(obj))
    return gathered


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def broadcast_module(module: nn.Module, layout: ProcessLayout) -> None:
    """Copy rank 0's parameters and buffers to every rank (as DDP does at construction)."""
    if not layout.distributed:
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


def all_reduce_grads(params: Iterable[nn.Parameter], layout: ProcessLayout,
                     bucket_bytes: int = 64 * 2**20) -> None:
    """Sum every parameter's gradient over the ranks, in flat buckets of about
    `bucket_bytes`. A rank that ran no backward (no rows in this mini-batch) contributes
    zeros, so each `p.grad` becomes the gradient of the summed loss of all ranks."""
    if not layout.distributed:
        return
    params = [p for p in params if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    bucket: list[nn.Parameter] = []
    size = 0
    for p in params:
        bucket.append(p)
        size += p.numel() * p.element_size()
        if size >= bucket_bytes:
            _reduce_bucket(bucket)
            bucket, size = [], 0
    if bucket:
        _reduce_bucket(bucket)


def _reduce_bucket(params: list[nn.Parameter]) -> None:
    by_kind: dict[tuple[torch.dtype, torch.device], list[nn.Parameter]] = {}
    for p in params:
        by_kind.setdefault((p.grad.dtype, p.grad.device), []).append(p)
    for group in by_kind.values():
        flat = torch.cat([p.grad.reshape(-1) for p in group])
        dist.all_reduce(flat)
        offset = 0
        for p in group:
            p.grad.copy_(flat[offset: offset + p.numel()].view_as(p.grad))
            offset += p.numel()
