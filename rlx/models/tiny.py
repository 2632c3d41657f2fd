"""A tiny random Qwen2-style causal LM with a locally trained tokenizer, for CPU tests and smoke runs.

Nothing is downloaded: the byte-level BPE tokenizer is trained with `tokenizers` on a small
built-in corpus (digits, arithmetic words, chat markers), the weights are drawn from the seeded
default initialisation. The same settings give the same folder, byte for byte in content, so
the folder is cached under `<cache_dir>/tiny-<hash of settings>`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GenerationConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen2Tokenizer,
)

from rlx.models.base import DType, LoadedModel, load_folder
from rlx.models.cache import cached_folder, settings_key
from rlx.models.lora import LoraSettings

FORMAT_VERSION = 1  # bump when the corpus, template or folder layout changes
PAD, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)

PHRASES = [
    "You are a helpful assistant.",
    "Question: What is the answer? Answer: The answer is",
    "Let's think step by step.",
    "plus minus times divided by equals sum difference product total",
    "<answer>42</answer> \\boxed{7} #### 12",
    "correct wrong yes no true false",
]


def tiny_corpus() -> list[str]:
    """The built-in training text for the tokenizer: numbers, arithmetic and chat turns."""
    lines = list(PHRASES)
    lines.append(" ".join(str(n) for n in range(1000)))
    for a in range(0, 40, 3):
        for b in range(1, 30, 4):
            lines.append(f"What is {a} plus {b}? {a} + {b} = {a + b}. The answer is {a + b}.")
            lines.append(f"What is {a} times {b}? {a} * {b} = {a * b}. The answer is {a * b}.")
            lines.append(f"{IM_START}user\nWhat is {a} minus {b}?{IM_END}\n")
            lines.append(f"{IM_START}assistant\n{a} - {b} = {a - b}{IM_END}\n")
    return lines


def train_tiny_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE with `vocab_size` entries (256 bytes + 3 special tokens + merges).

    Training on a fixed corpus is deterministic (checked across processes).
    """
    if vocab_size < 259:
        raise ValueError(f"vocab_size must be at least 259 (256 bytes + 3 special tokens), got {vocab_size}")
    # Qwen2's normaliser and pre-tokeniser (digits split one by one): AutoTokenizer reloads
    # a qwen2 folder through Qwen2Tokenizer, which installs them, so train with the same ones.
    qwen2_pipeline = Qwen2Tokenizer().backend_tokenizer
    backend = Tokenizer(models.BPE())
    backend.normalizer = qwen2_pipeline.normalizer
    backend.pre_tokenizer = qwen2_pipeline.pre_tokenizer
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(tiny_corpus(), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=IM_END,
        pad_token=PAD,
        additional_special_tokens=[IM_START],
        padding_side="left",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _build_folder(folder: Path, settings: dict) -> None:
    tokenizer = train_tiny_tokenizer(settings["vocab_size"])
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=settings["hidden_size"],
        intermediate_size=settings["intermediate_size"],
        num_hidden_layers=settings["num_layers"],
        num_attention_heads=settings["num_heads"],
        num_key_value_heads=settings["num_kv_heads"],
        max_position_embeddings=settings["max_position_embeddings"],
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG untouched
        torch.manual_seed(settings["seed"])
        model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def build_tiny(
    *,
    device: torch.device | str = "cpu",
    trainable: bool = True,
    seed: int = 0,
    vocab_size: int = 384,
    hidden_size: int = 64,
    intermediate_size: int = 256,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    max_position_embeddings: int = 2048,
    dtype: DType = "auto",
    gradient_checkpointing: bool = False,
    lora: LoraSettings | None = None,
    cache_dir: str | None = None,
) -> LoadedModel:
    """Build (or load from the cache) the tiny model; see the module docstring.

    device, trainable: runtime arguments from the trainer (`trainable=False` = frozen reference).
    seed: weight initialisation seed (the tokenizer does not depend on it).
    vocab_size: tokenizer size, at least 259. The rest shape the Qwen2 network
    (defaults: ~0.15M parameters, with tied input/output embeddings).
    cache_dir: where built folders live; None = `$RLX_CACHE` or `~/.cache/rlx`.
    """
    device = torch.device(device)
    settings = {
        "format": FORMAT_VERSION,
        "seed": seed,
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "num_kv_heads": num_kv_heads,
        "max_position_embeddings": max_position_embeddings,
    }
    folder = cached_folder(
        cache_dir,
        f"tiny-{settings_key(settings)}",
        lambda tmp: _build_folder(tmp, settings),
        settings,
    )
    return load_folder(folder, name="tiny", device=device, dtype=dtype, trainable=trainable,
                       gradient_checkpointing=gradient_checkpointing, lora=lora)
