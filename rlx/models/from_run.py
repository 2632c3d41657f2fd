"""A model trained by an earlier rlx run: `model=from_run model.run_dir=runs/sft_alfworld/<stamp>`.

An SFT run (`trainer=sft`) exports its final weights and tokenizer as an HF folder
`<run_dir>/model`; that folder (or the run directory itself, which `exported_folder` resolves)
is what this builder loads, so RL can start from an SFT checkpoint. `model=hf
model.path=<run_dir>` works as well (`rlx.models.hf.build_hf` resolves run directories the
same way).
"""

from __future__ import annotations

from pathlib import Path

import torch

from rlx.config.types import DataPath
from rlx.models.base import DType, LoadedModel, load_folder
from rlx.models.lora import LoraSettings

EXPORT_DIR = "model"
HOW = "run an SFT recipe first (python launch.py experiment=sft_alfworld) and pass its run directory"


def exported_folder(path: str | Path) -> Path:
    """The HF folder of `path`: `path/model` for a run directory that exported one, `path`
    itself for a plain HF folder."""
    path = Path(path).expanduser()
    if (path / EXPORT_DIR / "config.json").is_file():
        return path / EXPORT_DIR
    return path


def build_from_run(
    *,
    run_dir: DataPath("rlx run directory with an exported model", HOW),
    device: torch.device | str = "cpu",
    trainable: bool = True,
    dtype: DType = "auto",
    gradient_checkpointing: bool = False,
    lora: LoraSettings | None = None,
) -> LoadedModel:
    """The final weights of the run in `run_dir` (its `model/` folder), as policy or reference."""
    folder = exported_folder(run_dir)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"model.run_dir='{run_dir}' holds no exported model ({Path(run_dir) / EXPORT_DIR}/config.json "
            f"is missing): the run has not finished, or it is not an SFT run; {HOW}")
    return load_folder(folder, name=f"from_run:{Path(run_dir).name}", device=torch.device(device),
                       dtype=dtype, trainable=trainable, gradient_checkpointing=gradient_checkpointing,
                       lora=lora)
