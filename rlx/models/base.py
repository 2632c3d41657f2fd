"""What every model builder returns, and the finishing steps they share.

A builder (`rlx.models.tiny.build_tiny`, `rlx.models.smollm2.build_smollm2`,
`rlx.models.hf.build_hf`) loads weights and a tokenizer, then calls `finish_loading`, which
puts the model on its device in its dtype and makes it either a trainable policy (optional
gradient checkpointing and LoRA, `train()` mode) or a frozen reference (`eval()` mode, no
gradients). The trainer builds the reference by calling the same partial with `trainable=False`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from rlx.models.lora import LoraSettings, apply_lora

if TYPE_CHECKING:
    from peft import PeftModel

DType = Literal["auto", "float32", "bfloat16", "float16"]


@dataclass
class LoadedModel:
    """A causal LM ready for the trainer.

    model: on its device, in its dtype; `train()` mode when trainable, else `eval()` with
        `requires_grad=False` everywhere. With LoRA it is a `peft.PeftModel` wrapping the
        causal LM (same `forward`/`generate`/`save_pretrained`); only LoRA weights train.
    tokenizer: has a chat template and a pad token; `padding_side="left"`.
    name: a readable name for logs ("tiny", "smollm2-135m", a hub id or folder).
    """

    model: PreTrainedModel | PeftModel
    tokenizer: PreTrainedTokenizerBase
    name: str


def resolve_dtype(dtype: DType, device: torch.device, trainable: bool = True) -> torch.dtype:
    """`"auto"`: float32 for a trainable model (master weights; on CUDA the trainer computes in
    bfloat16 under autocast, so updates far below bf16's resolution are not rounded away),
    bfloat16 for a frozen model on CUDA, float32 on CPU. Other names map to torch dtypes
    (`bfloat16` for a trainable model means pure-bf16 training: half the memory, lossy updates)."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" and not trainable else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def as_lora_settings(lora: LoraSettings | Mapping | None) -> LoraSettings | None:
    """Accept `LoraSettings`, a mapping of its fields (what Hydra passes for `model.lora={...}`), or None."""
    if lora is None or isinstance(lora, LoraSettings):
        return lora
    fields = dict(lora)
    modules = fields.get("target_modules")
    if modules is not None and not isinstance(modules, str):  # a ListConfig from Hydra
        fields["target_modules"] = [str(m) for m in modules]
    return LoraSettings(**fields)


def check_tokenizer(tokenizer: PreTrainedTokenizerBase, name: str) -> PreTrainedTokenizerBase:
    """Make the tokenizer fit the contract: left padding, a pad token, a chat template."""
    if not tokenizer.chat_template:
        raise ValueError(f"the tokenizer of model '{name}' has no chat template")
    if tokenizer.eos_token_id is None:
        raise ValueError(f"the tokenizer of model '{name}' has no eos token")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # masks, not pad ids, mark padding in rlx
    tokenizer.padding_side = "left"
    return tokenizer


def enable_gradient_checkpointing(model: PreTrainedModel) -> None:
    """Non-reentrant activation checkpointing on every decoder layer (works with LoRA)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    model.config.use_cache = False


def finish_loading(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    name: str,
    device: torch.device,
    dtype: torch.dtype,
    trainable: bool,
    gradient_checkpointing: bool,
    lora: LoraSettings | None,
) -> LoadedModel:
    """Move, cast and set up a freshly loaded model as a policy (`trainable`) or a frozen reference.

    The reference (`trainable=False`) never gets LoRA or checkpointing: it only runs forward
    passes under `no_grad`.
    """
    model = model.to(device=device, dtype=dtype)
    tokenizer = check_tokenizer(tokenizer, name)
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if not trainable:
        model.requires_grad_(False)
        model.eval()
        return LoadedModel(model=model, tokenizer=tokenizer, name=name)
    if gradient_checkpointing:
        enable_gradient_checkpointing(model)
    if lora is not None:
        model = apply_lora(model, lora)
    model.train()
    return LoadedModel(model=model, tokenizer=tokenizer, name=name)


def load_folder(
    folder: str | Path,
    *,
    name: str,
    device: torch.device,
    dtype: DType,
    trainable: bool,
    gradient_checkpointing: bool,
    lora: LoraSettings | Mapping | None,
) -> LoadedModel:
    """Load a local HF model folder (weights + tokenizer) and `finish_loading` it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = resolve_dtype(dtype, device, trainable)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch_dtype)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return finish_loading(model, tokenizer, name=name, device=device, dtype=torch_dtype,
                          trainable=trainable, gradient_checkpointing=gradient_checkpointing,
                          lora=as_lora_settings(lora))
