"""The vLLM engine's request grouping and both weight-sync paths, with a stand-in for vllm.LLM
(no vLLM needed: these run everywhere, including the CUDA path on a CPU machine)."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from rlx.models.lora import LoraSettings
from rlx.models.tiny import build_tiny
from rlx.rollout.vllm import VLLMEngine, runs_of
from rlx.rollout.weights import merged_weights


class FakeLLM:
    """Records what the engine asks of vllm.LLM; `collective_rpc` runs callables on a fake worker."""

    def __init__(self):
        self.calls, self.loaded = [], []
        model = SimpleNamespace(load_weights=lambda weights: self.loaded.append(dict(weights)))
        self.worker = SimpleNamespace(model_runner=SimpleNamespace(model=model))

    def collective_rpc(self, method, args=(), kwargs=None):
        self.calls.append(("rpc", method if isinstance(method, str) else "callable", kwargs))
        if callable(method):
            return [method(self.worker, *args, **(kwargs or {}))]
        return [None]

    def reset_prefix_cache(self):
        self.calls.append(("reset_prefix_cache", None, None))


@pytest.fixture(scope="module")
def tiny64(cache_dir):
    return build_tiny(cache_dir=cache_dir, seed=0, num_heads=1, num_kv_heads=1)


def test_runs_of_consecutive_identical_prompts():
    assert runs_of([[1], [1], [1], [2, 3], [2, 3], [1]]) == [(0, 3), (3, 2), (5, 1)]
    assert runs_of([]) == []


def test_merged_weights_are_the_plain_models_parameters(tiny64):
    weights = merged_weights(tiny64.model)
    state = tiny64.model.state_dict()
    assert set(weights) == set(state)  # with the tied LM head (vLLM's reload unties it)
    assert all(torch.equal(weights[k], state[k]) for k in weights)
    assert set(merged_weights(tiny64.model, skip_tied=True)) == set(state) - {"lm_head.weight"}


def test_merged_lora_weights_equal_peft_merge_and_unload(cache_dir):
    lora = build_tiny(cache_dir=cache_dir, seed=0, num_heads=1, num_kv_heads=1,
                      lora=LoraSettings(rank=4, alpha=8))
    with torch.no_grad():  # B starts at zero: give the adapters a value so the merge matters
        for name, p in lora.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    weights = merged_weights(lora.model)
    reference = copy.deepcopy(lora.model).merge_and_unload().state_dict()
    assert set(weights) == set(reference)
    for key, value in weights.items():
        torch.testing.assert_close(value, reference[key], rtol=0, atol=1e-6)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(weights[q], lora.model.get_base_model().model.layers[0].self_attn.q_proj.base_layer.weight)
    assert any("lora_A" in n for n, _ in lora.model.named_parameters())  # the policy stays unmerged


def test_in_place_sync_hands_merged_tensors_to_the_worker(tiny64):
    fake = FakeLLM()
    engine = VLLMEngine(tiny64.model, tiny64.tokenizer, max_new_tokens=4, weight_sync="load_weights", llm=fake)
    student = copy.deepcopy(tiny64.model)
    with torch.no_grad():
        student.model.norm.weight.add_(1.0)
    assert engine.sync_weights(student) >= 0
    (loaded,) = fake.loaded
    assert torch.equal(loaded["model.norm.weight"], student.model.norm.weight)
    assert not torch.equal(loaded["model.norm.weight"], tiny64.model.model.norm.weight)
    assert [c[0] for c in fake.calls] == ["rpc", "reset_prefix_cache"]
    engine.close()


def test_reload_sync_writes_safetensors_and_asks_vllm_to_reload(tiny64):
    fake = FakeLLM()
    engine = VLLMEngine(tiny64.model, tiny64.tokenizer, max_new_tokens=4, weight_sync="disk", llm=fake)
    engine.sync_weights()
    (_, method, kwargs), reset = fake.calls
    assert method == "reload_weights" and reset[0] == "reset_prefix_cache"
    saved = load_file(f"{kwargs['weights_path']}/model.safetensors")
    assert set(saved) == set(merged_weights(tiny64.model))
    assert torch.equal(saved["model.embed_tokens.weight"], tiny64.model.model.embed_tokens.weight)
    engine.close()


def test_auto_sync_is_in_place_on_cuda_and_reload_on_cpu(tiny64):
    engine = VLLMEngine(tiny64.model, tiny64.tokenizer, max_new_tokens=4, llm=FakeLLM())
    assert engine.weight_sync == "tensors"  # a CPU model
    engine.close()


def test_tensor_sync_hands_merged_tensors_to_vllms_reload(tiny64):
    fake = FakeLLM()
    engine = VLLMEngine(tiny64.model, tiny64.tokenizer, max_new_tokens=4, weight_sync="tensors", llm=fake)
    engine.sync_weights()
    (_, method, kwargs), reset = fake.calls
    assert method == "reload_weights" and reset[0] == "reset_prefix_cache"
    assert dict(kwargs["weights_iterator"]).keys() == merged_weights(tiny64.model).keys()
    engine.close()
