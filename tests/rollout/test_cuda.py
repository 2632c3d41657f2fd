"""The same contracts on a GPU, in bfloat16 (skipped without CUDA)."""

import pytest
import torch

from rlx.models.lora import LoraSettings
from rlx.models.tiny import build_tiny
from rlx.rollout.batch import pack_sequences
from rlx.rollout.hf import HFEngine
from rlx.rollout.logprobs import forward_logprobs, position_ids_from_mask

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def cuda_tiny(cache_dir):
    return build_tiny(cache_dir=cache_dir, device="cuda", dtype="bfloat16")


def test_auto_dtype_on_cuda_is_fp32_master_for_policy_bf16_for_reference(cache_dir):
    policy = build_tiny(cache_dir=cache_dir, device="cuda")
    reference = build_tiny(cache_dir=cache_dir, device="cuda", trainable=False)
    assert policy.model.dtype == torch.float32 and reference.model.dtype == torch.bfloat16
    assert policy.model.device.type == "cuda"


def test_generation_is_seeded_on_cuda(cuda_tiny, prompts):
    sampler = HFEngine(cuda_tiny.model, cuda_tiny.tokenizer, max_new_tokens=16)
    torch.cuda.manual_seed(0)
    state = torch.cuda.get_rng_state()
    first = sampler.generate(prompts * 4, seed=5)
    assert torch.equal(torch.cuda.get_rng_state(), state)  # the caller's CUDA RNG is restored
    again = sampler.generate(prompts * 4, seed=5)
    other = sampler.generate(prompts * 4, seed=6)
    assert [g.response_ids for g in again] == [g.response_ids for g in first]
    assert [g.response_ids for g in other] != [g.response_ids for g in first]
    assert sampler.last_stats.tokens_per_s > 0


def test_forward_logprobs_in_bfloat16(cuda_tiny, prompts):
    generations = HFEngine(cuda_tiny.model, cuda_tiny.tokenizer, max_new_tokens=16).generate(prompts, seed=0)
    pad_id = cuda_tiny.tokenizer.pad_token_id
    input_ids, attention_mask, action_mask = pack_sequences(generations, pad_id, device="cuda")
    out = forward_logprobs(cuda_tiny.model, input_ids, attention_mask, chunk_size=5, with_entropy=True)
    logits = cuda_tiny.model(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids_from_mask(attention_mask)
    ).logits
    expected = logits[:, :-1].float().log_softmax(-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    mask = action_mask[:, 1:]
    assert out.logprobs.dtype == torch.float32 and torch.isfinite(out.logprobs).all()
    torch.testing.assert_close(out.logprobs[:, 1:][mask], expected[mask], atol=2e-2, rtol=0)
    out.logprobs.sum().backward()
    assert all(p.grad is not None for p in cuda_tiny.model.parameters())


def test_lora_with_checkpointing_on_cuda(cache_dir, prompts):
    policy = build_tiny(cache_dir=cache_dir, device="cuda", lora=LoraSettings(rank=4), gradient_checkpointing=True)
    generations = HFEngine(policy.model, policy.tokenizer, max_new_tokens=8).generate(prompts, seed=0)
    input_ids, attention_mask, _ = pack_sequences(generations, policy.tokenizer.pad_token_id, device="cuda")
    forward_logprobs(policy.model, input_ids, attention_mask, chunk_size=16).logprobs.sum().backward()
    lora_b = [p for n, p in policy.model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.grad is not None and p.grad.abs().sum() > 0 for p in lora_b)
    assert all(p.dtype == torch.float32 for p in lora_b)  # adapters stay fp32 on a bf16 model
