"""Any pretrained causal LM in Hugging Face format: a local folder or a hub id."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlx.config.types import DataPath
from rlx.models.base import DType, LoadedModel, as_lora_settings, finish_loading, resolve_dtype
from rlx.models.from_run import exported_folder
from rlx.models.lora import LoraSettings

DOWNLOAD_HOW = (
    "download it where there is internet (`hf download OWNER/NAME --local-dir /data/models/NAME`), "
    "copy the folder here and set model.path=/data/models/NAME"
)


class HubUnreachableError(RuntimeError):
    """A hub id was given, it is not in the local HF cache, and the hub cannot be reached."""


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set to a true value."""
    flags = (os.environ.get(k, "").strip().lower() for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(f in {"1", "true", "yes", "on"} for f in flags)


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Can a TCP connection to the hub endpoint ($HF_ENDPOINT or huggingface.co) be opened?

    A quick probe: without it, a hub lookup on a machine with no network retries for about
    a minute before failing.
    """
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout_s).close()
    except OSError:
        return False
    return True


def unreachable_message(path: str, reason: str) -> str:
    name = path.rstrip("/").split("/")[-1]
    return (
        f"model.path='{path}' is not a local folder, it is not in the local Hugging Face cache, "
        f"and the hub cannot be reached ({reason}). Download it where there is internet:\n"
        f"    hf download {path} --local-dir /data/models/{name}\n"
        f"(or `huggingface-cli download ...`), copy the folder to this machine and run with\n"
        f"    model.path=/data/models/{name}"
    )


def build_hf(
    *,
    path: DataPath("pretrained model folder or hub id", DOWNLOAD_HOW, allow_hub_id=True),
    device: torch.device | str = "cpu",
    trainable: bool = True,
    revision: str | None = None,
    dtype: DType = "auto",
    gradient_checkpointing: bool = False,
    lora: LoraSettings | None = None,
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] | None = None,
) -> LoadedModel:
    """Load a pretrained causal LM and its tokenizer from `path` (local folder, hub id, or an
    rlx run directory that exported its weights, e.g. an SFT run: its `model/` folder).

    A hub id is read from the local HF cache when it is there; otherwise it is downloaded
    when the hub is reachable, and when it is not (HF_HUB_OFFLINE=1, or no network) a
    `HubUnreachableError` says how to download it and point `model.path` at the folder.
    revision: hub branch, tag or commit (ignored for a local folder).
    attn_implementation: None = transformers' default (sdpa).
    """
    device = torch.device(device)
    torch_dtype = resolve_dtype(dtype, device, trainable)
    local = exported_folder(path)  # an rlx run directory -> its exported model/ folder
    kwargs = {"dtype": torch_dtype}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    source, hub_kwargs, offline_reason = str(local), {}, None
    if not local.is_dir() and path.startswith(("/", ".", "~")):
        raise FileNotFoundError(f"model.path='{path}': no such folder; {DOWNLOAD_HOW}")
    if not local.is_dir():
        source, hub_kwargs = path, {"revision": revision}
        if hub_offline():
            offline_reason = "HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set"
        elif not hub_reachable():
            offline_reason = "no network connection to the hub"
        if offline_reason:
            hub_kwargs["local_files_only"] = True  # the local HF cache may still have it
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **hub_kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, **hub_kwargs, **kwargs)
    except OSError as err:
        if offline_reason:
            raise HubUnreachableError(unreachable_message(path, offline_reason)) from err
        raise
    return finish_loading(
        model,
        tokenizer,
        name=path,
        device=device,
        dtype=torch_dtype,
        trainable=trainable,
        gradient_checkpointing=gradient_checkpointing,
        lora=as_lora_settings(lora),
    )
