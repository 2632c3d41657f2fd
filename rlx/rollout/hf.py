"""The baseline generation engine: batched Hugging Face `generate` with left padding."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated

import torch
from transformers import GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from rlx.config.types import Range
from rlx.rollout.base import Generation, GenerationStats


def eos_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The tokenizer's eos plus any listed in the model's generation config (e.g. Qwen's two)."""
    ids = [tokenizer.eos_token_id]
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids += configured if isinstance(configured, list) else [configured]
    return sorted({int(i) for i in ids if i is not None})


def cut_at_eos(prompt_ids: Sequence[int], new_ids: Sequence[int], eos_ids: Sequence[int]) -> Generation:
    """Keep the new tokens up to and including the first eos; drop what `generate` padded after it."""
    for i, token in enumerate(new_ids):
        if token in eos_ids:
            return Generation(list(prompt_ids), list(new_ids[: i + 1]), finished=True)
    return Generation(list(prompt_ids), list(new_ids), finished=False)


def left_pad(
    rows: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (B, longest row), rows aligned to the right."""
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            input_ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            attention_mask[i, width - len(row) :] = 1
    return input_ids.to(device), attention_mask.to(device)


class HFEngine:
    """Sample one response per prompt with `model.generate`, `batch_size` prompts at a time.

    model, tokenizer: runtime arguments (the policy being trained; peft-wrapped is fine).
    max_new_tokens: response length limit; longer responses are cut (`finished=False`).
    temperature: softmax temperature; 0 means greedy decoding. Use the same value in
        `forward_logprobs` so the trainer's log-probs match the sampler.
    top_p, top_k: nucleus / top-k truncation (1.0 and 0 disable them). Truncation makes the
        sampling distribution differ from softmax(logits / temperature).
    batch_size: prompts per `generate` call; prompts are sorted by length first so a batch
        holds similar lengths (less padding); results come back in the input order.

    Determinism: HF samples with the global torch RNG (`torch.multinomial` without a
    generator), so `generate` seeds the global RNG with `seed` inside
    `torch.random.fork_rng`, which restores the caller's RNG state afterwards. The same seed,
    prompts and settings give identical outputs on CPU. On CUDA they match only with
    `torch.use_deterministic_algorithms(True)` and `CUBLAS_WORKSPACE_CONFIG=:4096:8` set
    before CUDA starts (a run-level choice): without them, measured on an H100 with a
    Qwen2.5-0.5B-shaped model, two same-seed runs of 64 x 128 tokens differed in 18-56 rows
    (even greedy), each from some token on; with them the runs were identical.
    The model's own `generation_config` sampling defaults (e.g. Qwen's top_k=20,
    repetition_penalty=1.05) are overridden with the values above.
    The sampler's log-probs are not reported (`reports_logprobs = False`; `Generation.logprobs`
    stays None): a mismatch correction needs an engine that reports them.
    """

    reports_logprobs = False

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_new_tokens: Annotated[int, Range(ge=1)],
        temperature: Annotated[float, Range(ge=0)] = 1.0,
        top_p: Annotated[float, Range(gt=0, le=1)] = 1.0,
        top_k: Annotated[int, Range(ge=0)] = 0,
        batch_size: Annotated[int, Range(ge=1)] = 64,
    ):
        if max_new_tokens < 1 or batch_size < 1:
            raise ValueError("max_new_tokens and batch_size must be >= 1")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.temperature = temperature
        self.eos_ids = eos_token_ids(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_ids[0]
        self.generation_config = sampling_config(
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            eos_ids=self.eos_ids,
            pad_id=self.pad_id,
        )
        self.last_stats = GenerationStats()

    def generate(self, prompts: Sequence[Sequence[int]], *, seed: int) -> list[Generation]:
        """One `Generation` per prompt, in order. Runs in eval mode without grad; restores train mode."""
        if any(len(p) == 0 for p in prompts):
            raise ValueError("every prompt needs at least one token")
        device = next(self.model.parameters()).device
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: list[Generation | None] = [None] * len(prompts)
        was_training = self.model.training
        self.model.eval()
        start = time.perf_counter()
        try:
            cuda_devices = [device] if device.type == "cuda" else []
            with torch.inference_mode(), torch.random.fork_rng(devices=cuda_devices):
                torch.manual_seed(seed)
                for first in range(0, len(order), self.batch_size):
                    batch = order[first : first + self.batch_size]
                    generations = self._generate_batch([prompts[i] for i in batch], device)
                    for i, generation in zip(batch, generations):
                        results[i] = generation
        finally:
            self.model.train(was_training)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        self.last_stats = GenerationStats(
            num_sequences=len(prompts),
            prompt_tokens=sum(len(p) for p in prompts),
            response_tokens=sum(len(g.response_ids) for g in results),
            seconds=time.perf_counter() - start,
        )
        return results

    def sync_weights(self, model=None) -> float:
        """Nothing to do: `generate` runs the live model the trainer updates."""
        return 0.0

    def _generate_batch(self, prompts: Sequence[Sequence[int]], device: torch.device) -> list[Generation]:
        input_ids, attention_mask = left_pad(prompts, self.pad_id, device)
        output = self.model.generate(
            input_ids=input_ids, attention_mask=attention_mask, generation_config=self.generation_config
        )
        new_tokens = output[:, input_ids.shape[1] :].tolist()
        return [cut_at_eos(p, new, self.eos_ids) for p, new in zip(prompts, new_tokens)]


def sampling_config(
    *, max_new_tokens: int, temperature: float, top_p: float, top_k: int, eos_ids: list[int], pad_id: int
) -> GenerationConfig:
    """A GenerationConfig that sets every sampling knob explicitly.

    `generate` fills unset fields from the model's `generation_config` and then from global
    defaults (top_k=50!), so the neutral values are written out here.
    """
    sampling = {}  # in greedy mode (temperature 0) HF adds no warpers, and warns if these are set
    if temperature > 0:
        sampling = dict(
            temperature=temperature, top_p=top_p, top_k=top_k, typical_p=1.0, epsilon_cutoff=0.0, eta_cutoff=0.0
        )
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=temperature > 0,
        **sampling,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        min_new_tokens=0,
        num_beams=1,
        eos_token_id=eos_ids,
        pad_token_id=pad_id,
        use_cache=True,
    )
