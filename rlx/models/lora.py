"""LoRA adapters through peft (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models",
arXiv 2106.09685): W x + (alpha / rank) * B A x with A (rank, d_in), B (d_out, rank), B = 0 at start.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel


@dataclass
class LoraSettings:
    """LoRA config, e.g. `model.lora={rank:16,alpha:32}` on the command line.

    rank: adapter rank r.
    alpha: scaling numerator; the update is scaled by alpha / rank.
    dropout: dropout on the adapter input.
    target_modules: module names to adapt, or "all-linear" (every linear layer except the LM head).
    seed: seed of the random A initialisation (B starts at zero).
    """

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"
    seed: int = 0


def apply_lora(model: PreTrainedModel, settings: LoraSettings):
    """Wrap `model` in a `peft.PeftModel`; afterwards only the LoRA weights require grad.

    peft draws the A matrices from the global RNG; that happens here under `settings.seed`
    inside `fork_rng`, so the adapter is reproducible and the caller's RNG is untouched.
    Adapter weights are kept in float32 even on a bfloat16 model (peft's default).
    """
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as err:  # peft is the optional [lora] extra
        raise ImportError("LoRA needs peft: pip install 'rlx[lora]' (or pip install peft)") from err
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        task_type="CAUSAL_LM",
    )
    device = model.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(settings.seed)
        return get_peft_model(model, config)
