import pytest
import torch

from rlx.models.lora import LoraSettings
from rlx.models.tiny import build_tiny
from rlx.rollout.hf import HFEngine, cut_at_eos
from rlx.rollout.logprobs import forward_logprobs
from rlx.rollout.batch import pack_sequences


def engine(loaded, **kwargs) -> HFEngine:
    settings = {"max_new_tokens": 10, "temperature": 1.0, "batch_size": 64} | kwargs
    return HFEngine(loaded.model, loaded.tokenizer, **settings)


def responses(generations) -> list[list[int]]:
    return [g.response_ids for g in generations]


def test_same_seed_same_outputs_different_seed_different(tiny, prompts):
    sampler = engine(tiny)
    first = sampler.generate(prompts, seed=7)
    assert responses(sampler.generate(prompts, seed=7)) == responses(first)
    assert responses(sampler.generate(prompts, seed=8)) != responses(first)
    assert [g.prompt_ids for g in first] == prompts


def test_the_callers_rng_is_restored(tiny, prompts):
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    engine(tiny).generate(prompts, seed=3)
    assert torch.equal(torch.rand(2), expected)


def test_eval_mode_during_generation_train_mode_after(tiny, prompts):
    modes = []
    hook = tiny.model.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    try:
        assert tiny.model.training
        engine(tiny, max_new_tokens=2).generate(prompts, seed=0)
    finally:
        hook.remove()
    assert modes and not any(modes)
    assert tiny.model.training


def test_max_new_tokens_is_respected(tiny, prompts):
    generations = engine(tiny, max_new_tokens=5).generate(prompts * 4, seed=1)
    assert len(generations) == 16
    for g in generations:
        assert 1 <= len(g.response_ids) <= 5
        assert g.finished or len(g.response_ids) == 5


def eos_bias_hook(tiny, strength: float):
    """Push the eos logit up so that some (not all) sampled responses stop early."""
    eos = tiny.tokenizer.eos_token_id

    def hook(module, args, output):
        output = output.clone()
        output[..., eos] += strength
        return output

    return tiny.model.get_output_embeddings().register_forward_hook(hook)


def test_eos_handling(tiny, prompts):
    hook = eos_bias_hook(tiny, strength=5.0)
    try:
        generations = engine(tiny, max_new_tokens=12).generate(prompts * 8, seed=2)
    finally:
        hook.remove()
    eos = tiny.tokenizer.eos_token_id
    finished = [g for g in generations if g.finished]
    unfinished = [g for g in generations if not g.finished]
    assert finished and unfinished
    for g in finished:  # cut right after the first eos, no padding after it
        assert g.response_ids[-1] == eos and eos not in g.response_ids[:-1]
    for g in unfinished:
        assert eos not in g.response_ids and len(g.response_ids) == 12


def test_batching_returns_results_in_input_order(tiny, prompts):
    hook = eos_bias_hook(tiny, strength=4.0)  # ragged lengths, so batches differ in width
    try:
        big = engine(tiny, temperature=0.0).generate(prompts, seed=0)
        one_by_one = engine(tiny, temperature=0.0, batch_size=1).generate(prompts, seed=0)
    finally:
        hook.remove()
    assert [g.prompt_ids for g in one_by_one] == prompts
    # greedy decoding does not depend on how prompts were batched and padded
    assert responses(one_by_one) == responses(big)


def test_greedy_tokens_are_the_argmax_of_forward_logprobs(tiny, prompts):
    """The sampler and the trainer's forward agree on positions under left padding."""
    generations = engine(tiny, temperature=0.0, max_new_tokens=8).generate(prompts, seed=0)
    input_ids, attention_mask, action_mask = pack_sequences(generations, tiny.tokenizer.pad_token_id)
    with torch.no_grad():
        out = forward_logprobs(tiny.model, input_ids, attention_mask)
        logits = tiny.model(input_ids=input_ids, attention_mask=attention_mask).logits
    best = logits.float().log_softmax(-1).max(-1).values  # best[:, t-1] is the best log-prob for token t
    chosen = out.logprobs[:, 1:][action_mask[:, 1:]]
    torch.testing.assert_close(chosen, best[:, :-1][action_mask[:, 1:]], atol=1e-4, rtol=0)


def test_stats(tiny, prompts):
    sampler = engine(tiny, max_new_tokens=6)
    generations = sampler.generate(prompts, seed=0)
    stats = sampler.last_stats
    assert stats.num_sequences == len(prompts)
    assert stats.prompt_tokens == sum(len(p) for p in prompts)
    assert stats.response_tokens == sum(len(g.response_ids) for g in generations)
    assert stats.seconds > 0 and stats.tokens_per_s == stats.response_tokens / stats.seconds
    assert set(stats.metrics()) == {"perf/generation_tokens_per_s", "perf/generation_s", "perf/generation_tokens"}


def test_model_sampling_defaults_do_not_leak_in(cache_dir, prompts):
    """A checkpoint's generation_config (e.g. Qwen's top_k=20) must not change the sampler."""
    loaded = build_tiny(cache_dir=cache_dir)
    reference = engine(loaded).generate(prompts * 2, seed=4)
    loaded.model.generation_config.top_k = 1
    loaded.model.generation_config.repetition_penalty = 3.0
    assert responses(engine(loaded).generate(prompts * 2, seed=4)) == responses(reference)


def test_generates_with_a_lora_model(tiny, cache_dir, prompts):
    policy = build_tiny(cache_dir=cache_dir, lora=LoraSettings(rank=2))
    generations = engine(policy, max_new_tokens=4).generate(prompts, seed=0)
    # a fresh adapter is the identity (B = 0): same samples as the plain model with this seed
    assert responses(generations) == responses(engine(tiny, max_new_tokens=4).generate(prompts, seed=0))
    assert policy.model.training


def test_cut_at_eos():
    assert cut_at_eos([1], [5, 2, 0, 0], eos_ids=[2]).response_ids == [5, 2]
    assert cut_at_eos([1], [5, 6, 7], eos_ids=[2]).finished is False
    assert cut_at_eos([1], [9, 5, 3], eos_ids=[2, 3]).response_ids == [9, 5, 3]


def test_bad_settings_and_prompts(tiny):
    with pytest.raises(ValueError):
        engine(tiny, max_new_tokens=0)
    with pytest.raises(ValueError):
        engine(tiny).generate([[1, 2], []], seed=0)
