"""FSDP2 (`torch.distributed.fsdp.fully_shard`) for models that do not fit on one device.

Each decoder layer is one FSDP unit; the root unit is a `LogprobModule` holding the causal
LM and the value head, so the embeddings, final norm, LM head and value head are gathered
by the root's forward, which is the log-prob pass itself (calling the body and head of a
sharded model directly would skip FSDP's hooks). Gradients are summed over ranks (divide
factor 1): each rank's loss is its share of the global mini-batch loss.

Generation (`full_weights`) gathers every unit once and keeps it gathered for the whole
`generate` call, instead of one all-gather per layer per decoded token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import FSDPModule, fully_shard

from rlx.distributed import ProcessLayout, broadcast_module
from rlx.rollout.logprobs import LogprobModule, causal_lm_parts


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The transformer blocks of an HF causal LM (or a peft wrapper of one)."""
    body, _ = causal_lm_parts(model)
    layers = getattr(body, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise TypeError(f"{type(body).__name__} has no `layers` ModuleList to shard with FSDP")
    return layers


def shard_model(model: nn.Module, value_head: nn.Module | None, layout: ProcessLayout,
                device: torch.device) -> LogprobModule:
    """Broadcast rank 0's weights, then shard `model` (and `value_head`) over all ranks.

    Returns the root `LogprobModule`; `model` and `value_head` stay usable (generation
    inside `full_weights`). Build the optimizer over the root's parameters afterwards.
    """
    root = LogprobModule(model, value_head)
    broadcast_module(root, layout)
    mesh = init_device_mesh(device.type, (layout.world_size,))
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh)
    fully_shard(root, mesh=mesh)
    for module in root.modules():
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(1.0)
            module.set_force_sum_reduction_for_comms(True)  # gloo has no PREMUL_SUM
    settle_root(root, device)
    return root


def settle_root(root: LogprobModule, device: torch.device) -> None:
    """FSDP2 takes the first module to run forward as the root: run one token through the
    root now, so that later calls of the inner model (generation) are not taken for it."""
    one = torch.ones((1, 1), dtype=torch.long, device=device)
    with torch.no_grad():
        root(one, one)
    root.reshard()  # the root keeps its weights gathered after forward: register the shards again


@contextmanager
def full_weights(root: nn.Module) -> Iterator[None]:
    """Gather every FSDP unit under `root` (a collective) and keep it gathered inside."""
    units = [m for m in root.modules() if isinstance(m, FSDPModule)]
    for unit in units:
        if unit is not root:
            unit.set_reshard_after_forward(False, recurse=False)
        unit.unshard()
    try:
        yield
    finally:
        for unit in units:
            unit.reshard()
            if unit is not root:
                unit.set_reshard_after_forward(True, recurse=False)
