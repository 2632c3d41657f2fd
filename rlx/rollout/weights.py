"""The policy's weights as a plain causal LM sees them, for an engine that holds its own copy.

A sampler outside the trainer's module (vLLM) needs the full, unsharded weights under the
causal LM's own parameter names. LoRA adapters are merged into their base weights here,
without touching the trained model: W' = W + (alpha / r) B A per adapted layer, peft's own
`get_delta_weight` (Hu et al., arXiv 2106.09685, eq. 3), so the merged view is exact up to
one float addition and the adapters keep training unmerged.
"""

from __future__ import annotations

import torch
from torch import nn

from rlx.train.parallel import full_tensor, policy_of


def causal_lm_of(model: nn.Module) -> nn.Module:
    """The HF causal LM inside DDP (`.module`), an FSDP `LogprobModule` root or a peft wrapper."""
    inner = policy_of(getattr(model, "module", model))
    return inner.get_base_model() if hasattr(inner, "get_base_model") else inner


def lora_deltas(model: nn.Module) -> dict[str, torch.Tensor]:
    """{module name: summed delta weight of its active adapters} for every peft LoRA layer."""
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # no peft, so no adapters
        return {}
    deltas: dict[str, torch.Tensor] = {}
    for name, module in causal_lm_of(model).named_modules():
        if isinstance(module, LoraLayer):
            for adapter in module.active_adapters:
                if adapter in module.lora_A and not module.merged:
                    delta = full_tensor(module.get_delta_weight(adapter).detach())
                    deltas[name] = deltas[name] + delta if name in deltas else delta
    return deltas


@torch.no_grad()
def merged_weights(model: nn.Module, *, skip_tied: bool = False) -> dict[str, torch.Tensor]:
    """{causal-LM parameter name: full tensor} with LoRA merged in (see the module docstring).

    Names are those of the plain model (peft's `.base_layer` infix removed, adapter tensors
    dropped). Under FSDP every rank must call this (gathering a DTensor is a collective).
    skip_tied: leave out the output embedding when it is tied to the input embedding (the same
    tensor). Keep it for vLLM: its in-place reload re-materialises the input embedding, which
    unties its LM head, so a sync without `lm_head.weight` left the old head serving
    (measured: log-prob gap 35 after an embedding change, 0.0 with the head included).
    """
    base = causal_lm_of(model)
    deltas = lora_deltas(model)
    skip = set()
    if skip_tied and getattr(base.config, "tie_word_embeddings", False):
        head = base.get_output_embeddings()
        skip = {f"{name}.weight" for name, module in base.named_modules() if module is head}
    weights = {}
    for key, tensor in base.named_parameters(remove_duplicate=False):
        if "lora_" in key or key in skip:
            continue
        name = key.replace(".base_layer.", ".")
        value = full_tensor(tensor.detach())
        module, _, kind = name.rpartition(".")
        if kind == "weight" and module in deltas:
            value = value + deltas[module].to(value.dtype)
        weights[name] = value
    return weights
