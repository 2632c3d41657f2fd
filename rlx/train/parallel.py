"""Data-parallel training: how the update's work is split over the ranks, and how gradients,
statistics and checkpoint state are combined so that each optimizer step equals the
single-process step on the same global batch.

Every rank holds the whole rollout batch (`rlx.train.sharded_collect` gathers it), so batch
statistics (advantage normalisation, loss normalisers) are computed on the global batch
as in one process. The work is split: each rank scores and trains on its contiguous share
of the rows (of the batch for the log-prob pass, of each global mini-batch for the update).
Each micro-batch loss is the rank's share of the mini-batch loss (normalised by the
mini-batch's global token/sequence counts), so the gradients are summed over ranks:
explicitly after accumulation (`ddp`: `forward_logprobs` calls the transformer body and LM
head directly, which a DistributedDataParallel wrapper's hooks would not see) or by FSDP2's
reduce-scatter (`fsdp`, with the divide factor set to 1).

With FSDP every forward all-gathers weights, so all ranks must run the same number of
passes: `lockstep` pads a rank's micro-batches with filler passes whose loss is multiplied
by 0 and whose outputs are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from rlx.distributed import (ProcessLayout, all_gather_objects, all_reduce_grads, all_reduce_max,
                             all_reduce_sum)
from rlx.rollout.logprobs import LogprobModule


@dataclass(frozen=True)
class DataParallel:
    """The split of the update over `layout`'s ranks (the default: one process, no split).

    lockstep: every rank runs the same number of forward/backward passes (FSDP).
    reduces_grads: gradients are already summed by the wrapper (FSDP) rather than here.
    """

    layout: ProcessLayout = field(default_factory=ProcessLayout)
    lockstep: bool = False
    reduces_grads: bool = False

    @property
    def is_main(self) -> bool:
        return self.layout.is_main

    def share(self, rows: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous share of the (N,) row indices `rows`."""
        return rows[self.layout.share(len(rows))]

    def micro_batches(self, rows: torch.Tensor, size: int) -> Iterator[tuple[torch.Tensor, bool]]:
        """(indices, real) for this rank's share of `rows`, `size` rows at a time. In lockstep
        mode a rank with fewer micro-batches than another gets filler ones (`real=False`,
        the first row of `rows`) so every rank runs as many passes."""
        mine = self.share(rows)
        count = -(-len(mine) // size)
        # agree on the count before any pass: a collective inside the passes must not meet this one
        most = all_reduce_max(count, self.layout) if self.lockstep and len(rows) else count
        for start in range(0, len(mine), size):
            yield mine[start: start + size], True
        for _ in range(most - count):
            yield rows[:1], False

    def gather_rows(self, shares: torch.Tensor) -> torch.Tensor:
        """Concatenate the ranks' (n_r, ...) row shares in rank order, on every rank."""
        if not self.layout.distributed:
            return shares
        return torch.cat(all_gather_objects(shares, self.layout))

    def sum_grads(self, params: Iterable[nn.Parameter]) -> None:
        """Sum the accumulated gradients over the ranks (no-op in one process or under FSDP).
        A parameter without a gradient on any rank keeps none, as in one process."""
        if not self.layout.distributed or self.reduces_grads:
            return
        params = [p for p in params if p.requires_grad]
        has_grad = all_reduce_sum([float(p.grad is not None) for p in params], self.layout)
        all_reduce_grads([p for p, n in zip(params, has_grad) if n > 0], self.layout)

    def sum_stats(self, sums: Mapping[str, float]) -> dict[str, float]:
        """Per-key sums over the ranks (a rank without some key contributes nothing)."""
        if not self.layout.distributed:
            return dict(sums)
        total: dict[str, float] = {}
        for part in all_gather_objects(dict(sums), self.layout):
            for k, v in part.items():
                total[k] = total.get(k, 0.0) + v
        return total

    @property
    def joins_checkpoint(self) -> bool:
        """Whether this rank takes part in building checkpoint state: rank 0 always; every
        rank under FSDP, where gathering the full tensors is a collective."""
        return self.is_main or self.lockstep


def policy_of(model: nn.Module) -> nn.Module:
    """The causal LM itself, also when `model` is the `LogprobModule` root of an FSDP run."""
    return model.policy if isinstance(model, LogprobModule) else model


def trainable_state(model: nn.Module, keep: bool = True) -> dict[str, torch.Tensor]:
    """{name: full CPU copy} of the policy's trainable parameters (names as in the causal
    LM, whatever wraps it). Under FSDP every rank must call it; `keep=False` returns {}."""
    state = {}
    for name, param in policy_of(model).named_parameters():
        if param.requires_grad:
            value = full_tensor(param.detach())
            if keep:
                state[name] = value.cpu()
    return state


def load_trainable_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Copy `trainable_state` values back into the (possibly sharded) policy."""
    load_tensors(dict(policy_of(model).named_parameters()), state)


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """A DTensor's full value (a collective: every rank must call it), else `t` itself."""
    from torch.distributed.tensor import DTensor

    return t.full_tensor() if isinstance(t, DTensor) else t


def full_state(tree: Any, keep: bool = True) -> Any:
    """`tree` (dicts/lists of tensors, e.g. an optimizer state dict) with every DTensor
    replaced by its full value on the CPU; plain tensors are left as they are. On ranks with
    `keep=False` gathered values are dropped (None) right away to spare memory."""
    from torch.distributed.tensor import DTensor

    if isinstance(tree, DTensor):
        value = tree.full_tensor()
        return value.cpu() if keep else None
    if isinstance(tree, Mapping):
        return {k: full_state(v, keep) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(full_state(v, keep) for v in tree)
    return tree


def local_part(full: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`full` laid out like `like`: a DTensor sharded the same way (cut locally, no
    communication) if `like` is one, else `full` on `like`'s device."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if isinstance(like, DTensor):
        return distribute_tensor(full.to(like.device), like.device_mesh, like.placements,
                                 src_data_rank=None)
    return full.to(like.device)


def load_tensors(named: Mapping[str, torch.Tensor], values: Mapping[str, torch.Tensor]) -> None:
    """Copy full `values` into the (possibly sharded) tensors `named`, by name."""
    with torch.no_grad():
        for name, value in values.items():
            target = named[name]
            target.copy_(local_part(value.to(target.dtype), target))


def shard_optimizer_state(state: dict[str, Any], optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """A full (checkpointed) optimizer state dict made to fit `optimizer`'s parameters:
    per-parameter tensors shaped like a sharded parameter become DTensors sharded alike."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    out = dict(state)
    out["state"] = {
        i: {k: local_part(v, params[i]) if torch.is_tensor(v) and v.shape == params[i].shape else v
            for k, v in s.items()}
        for i, s in state["state"].items()
    }
    return out


def check_world_size(tasks_per_iter: int, world_size: int, where: str) -> None:
    """Each rank rolls out an equal share of whole task groups: the tasks must split evenly."""
    if tasks_per_iter % world_size:
        raise ValueError(
            f"trainer.tasks_per_iter={tasks_per_iter} must be a multiple of the number of "
            f"training processes ({world_size}, {where}): each process rolls out an equal share "
            f"of the iteration's task groups; choose trainer.tasks_per_iter as a multiple of "
            f"{world_size} or run fewer processes")
