import json

import pytest
import torch
from omegaconf import OmegaConf

from rlx.models import tiny
from rlx.models.lora import LoraSettings
from rlx.models.tiny import CHAT_TEMPLATE, build_tiny


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_same_seed_gives_identical_weights_and_tokenizer(tmp_path):
    a = build_tiny(seed=3, cache_dir=str(tmp_path / "a"))
    b = build_tiny(seed=3, cache_dir=str(tmp_path / "b"))  # built again from scratch
    wa, wb = weights(a.model), weights(b.model)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a.tokenizer.get_vocab() == b.tokenizer.get_vocab()
    c = build_tiny(seed=4, cache_dir=str(tmp_path / "a"))
    assert not torch.equal(wa["model.embed_tokens.weight"], weights(c.model)["model.embed_tokens.weight"])


def test_building_leaves_the_global_rng_alone(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny(seed=9, cache_dir=str(tmp_path))
    assert torch.equal(torch.rand(3), expected)


def test_model_contract(cache_dir):
    loaded = build_tiny(cache_dir=cache_dir)
    model, tokenizer = loaded.model, loaded.tokenizer
    assert loaded.name == "tiny"
    assert model.training
    assert model.dtype == torch.float32  # auto on CPU
    assert all(p.requires_grad for p in model.parameters())
    assert 100_000 < sum(p.numel() for p in model.parameters()) < 200_000
    assert model.config.hidden_size == 64 and model.config.num_hidden_layers == 2
    assert model.config.vocab_size == len(tokenizer) == 384
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id


def test_tokenizer_round_trip(cache_dir):
    tokenizer = build_tiny(cache_dir=cache_dir).tokenizer
    for text in ["What is 12 plus 7? The answer is 19.", "  spaces\n\nand tabs\t", "Ünïcödé 😀 ∑", ""]:
        ids = tokenizer(text, add_special_tokens=False).input_ids
        assert all(0 <= i < len(tokenizer) for i in ids)
        assert tokenizer.decode(ids) == text
    # the corpus words are merged into single tokens; digits are split one by one
    assert len(tokenizer(" plus", add_special_tokens=False).input_ids) == 1
    assert len(tokenizer("2026", add_special_tokens=False).input_ids) == 4
    im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert tokenizer("<|im_start|>", add_special_tokens=False).input_ids == [im_start]


def test_chat_template_applies(cache_dir):
    tokenizer = build_tiny(cache_dir=cache_dir).tokenizer
    assert tokenizer.chat_template == CHAT_TEMPLATE
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 3 plus 4?"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nWhat is 3 plus 4?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert ids.count(tokenizer.eos_token_id) == 2


def test_cache_is_reused_and_keyed_by_settings(tmp_path, monkeypatch):
    build_tiny(cache_dir=str(tmp_path))
    folders = [p for p in tmp_path.iterdir()]
    assert len(folders) == 1 and folders[0].name.startswith("tiny-")
    marker = json.loads((folders[0] / "rlx_complete.json").read_text())
    assert marker["hidden_size"] == 64 and marker["seed"] == 0

    def must_not_build(*args):
        raise AssertionError("the cached folder should have been reused")

    monkeypatch.setattr(tiny, "_build_folder", must_not_build)
    build_tiny(cache_dir=str(tmp_path))  # no rebuild
    with pytest.raises(AssertionError, match="reused"):
        build_tiny(cache_dir=str(tmp_path), hidden_size=32)  # other settings -> other folder


def test_default_cache_dir_follows_rlx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RLX_CACHE", str(tmp_path / "env_cache"))
    build_tiny()
    assert len(list((tmp_path / "env_cache").glob("tiny-*/config.json"))) == 1


def test_dtype_choice(cache_dir):
    assert build_tiny(cache_dir=cache_dir, dtype="bfloat16").model.dtype == torch.bfloat16


def test_reference_model_is_frozen(cache_dir):
    ref = build_tiny(cache_dir=cache_dir, trainable=False, lora=LoraSettings(rank=4))
    assert not ref.model.training
    assert not any(p.requires_grad for p in ref.model.parameters())
    assert not any("lora_" in n for n, _ in ref.model.named_parameters())  # no LoRA on the reference
    ids = torch.tensor([[1, 5, 6, 7]])
    assert ref.model(ids).logits.grad_fn is None


def test_lora_trains_only_lora_parameters(cache_dir):
    policy = build_tiny(cache_dir=cache_dir, lora=LoraSettings(rank=4, alpha=8.0))
    trainable = [n for n, p in policy.model.named_parameters() if p.requires_grad]
    frozen = [n for n, p in policy.model.named_parameters() if not p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert any("embed_tokens" in n for n in frozen)
    # all-linear: q, k, v, o, gate, up, down in both layers, A and B each
    assert len(trainable) == 2 * 7 * 2
    assert policy.model.training


def test_lora_from_a_hydra_mapping(cache_dir):
    lora = OmegaConf.create({"rank": 2, "alpha": 4, "target_modules": ["q_proj", "v_proj"]})
    policy = build_tiny(cache_dir=cache_dir, lora=lora)
    trainable = [n for n, p in policy.model.named_parameters() if p.requires_grad]
    assert len(trainable) == 2 * 2 * 2
    assert all(("q_proj" in n or "v_proj" in n) for n in trainable)


def checkpointing_on(model) -> bool:
    flag = "is_activation_checkpointing"  # transformers >= 5.2x; older: is_gradient_checkpointing
    return getattr(model, flag if hasattr(model, flag) else "is_gradient_checkpointing")


def test_gradient_checkpointing_is_enabled(cache_dir):
    policy = build_tiny(cache_dir=cache_dir, gradient_checkpointing=True)
    assert checkpointing_on(policy.model)
    reference = build_tiny(cache_dir=cache_dir, gradient_checkpointing=True, trainable=False)
    assert not checkpointing_on(reference.model)


def test_lora_initialisation_is_seeded(cache_dir):
    def adapters(seed):
        model = build_tiny(cache_dir=cache_dir, lora=LoraSettings(rank=2, seed=seed)).model
        return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_A" in n}

    first, again, other = adapters(0), adapters(0), adapters(1)
    assert all(torch.equal(first[n], again[n]) for n in first)
    assert not all(torch.equal(first[n], other[n]) for n in first)
