import pytest
import torch

from rlx.models.lora import LoraSettings
from rlx.models.tiny import build_tiny
from rlx.models.value_head import ValueHead
from rlx.rollout.logprobs import forward_logprobs, position_ids_from_mask

B, T = 3, 11


def left_padded_batch(vocab: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(3, vocab, (B, T), generator=gen)
    attention_mask = torch.ones(B, T, dtype=torch.long)
    for row, pad in enumerate([0, 4, 7]):
        attention_mask[row, :pad] = 0
        input_ids[row, :pad] = 0
    return input_ids, attention_mask


def naive(model, input_ids, attention_mask, temperature=1.0):
    """Full-vocabulary reference: (logprobs, entropy, last hidden state), all (B, T[, H])."""
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),
        output_hidden_states=True,
    )
    logp = (out.logits.float() / temperature).log_softmax(-1)  # (B, T, V)
    picked = logp[:, :-1].gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)[:, :-1]
    valid = attention_mask[:, 1:].bool()
    zero = torch.zeros(B, 1)
    return (
        torch.cat([zero, torch.where(valid, picked, 0.0)], 1),
        torch.cat([zero, torch.where(valid, entropy, 0.0)], 1),
        out.hidden_states[-1],
    )


@pytest.mark.parametrize("chunk_size", [1, 4, 7, 30, 1024])  # B*(T-1) = 30 targets: 4 and 7 leave a remainder
def test_equals_the_full_logits_computation(tiny, chunk_size):
    input_ids, attention_mask = left_padded_batch(len(tiny.tokenizer))
    expected_logp, expected_entropy, _ = naive(tiny.model, input_ids, attention_mask)
    out = forward_logprobs(tiny.model, input_ids, attention_mask, chunk_size=chunk_size, with_entropy=True)
    assert out.logprobs.shape == out.entropy.shape == (B, T)
    assert out.logprobs.dtype == torch.float32
    torch.testing.assert_close(out.logprobs, expected_logp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.entropy, expected_entropy, atol=1e-5, rtol=1e-5)
    assert out.values is None
    # column 0 and padding are exactly 0, the rest are real log-probs
    assert torch.all(out.logprobs[:, 0] == 0)
    assert torch.all(out.logprobs[attention_mask == 0] == 0)
    assert torch.all(out.logprobs[:, 1:][attention_mask[:, 1:] == 1] < 0)
    assert torch.isfinite(out.logprobs).all()


def test_temperature_scales_the_logits(tiny):
    input_ids, attention_mask = left_padded_batch(len(tiny.tokenizer), seed=1)
    expected, expected_entropy, _ = naive(tiny.model, input_ids, attention_mask, temperature=0.7)
    out = forward_logprobs(tiny.model, input_ids, attention_mask, temperature=0.7, chunk_size=8, with_entropy=True)
    torch.testing.assert_close(out.logprobs, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.entropy, expected_entropy, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        forward_logprobs(tiny.model, input_ids, attention_mask, temperature=0.0)


def test_the_lm_head_never_sees_more_than_a_chunk(tiny):
    input_ids, attention_mask = left_padded_batch(len(tiny.tokenizer))
    rows = []
    hook = tiny.model.get_output_embeddings().register_forward_hook(lambda m, i, o: rows.append(o.shape[0]))
    try:
        forward_logprobs(tiny.model, input_ids, attention_mask, chunk_size=7).logprobs.sum().backward()
    finally:
        hook.remove()
    tiny.model.zero_grad()
    # 30 targets -> chunks of 7,7,7,7,2 in forward, recomputed one at a time (last first) in backward
    assert rows == [7, 7, 7, 7, 2] + [2, 7, 7, 7, 7]


def test_gradients_match_the_naive_computation(cache_dir):
    model = build_tiny(cache_dir=cache_dir, seed=1).model
    input_ids, attention_mask = left_padded_batch(model.config.vocab_size, seed=2)
    weights = torch.linspace(-1, 1, B * T).view(B, T)

    naive(model, input_ids, attention_mask)[0].mul(weights).sum().backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    forward_logprobs(model, input_ids, attention_mask, chunk_size=4).logprobs.mul(weights).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name  # every parameter gets a gradient
        torch.testing.assert_close(p.grad, expected[name], atol=1e-5, rtol=1e-4)


def test_a_score_mask_runs_the_lm_head_on_its_positions_only(cache_dir):
    model = build_tiny(cache_dir=cache_dir, seed=1).model
    input_ids, attention_mask = left_padded_batch(model.config.vocab_size, seed=3)
    score = torch.zeros(B, T, dtype=torch.bool)
    score[:, -4:] = True  # "the response": the last 4 tokens of each row
    score[1, 0:6] = True  # + row 1's real tokens 4 and 5; its padding and column 0 stay 0
    weights = torch.linspace(-1, 1, B * T).view(B, T)
    head = ValueHead(model.config.hidden_size)
    full = forward_logprobs(model, input_ids, attention_mask, chunk_size=4, with_entropy=True, value_head=head)
    (full.logprobs * weights * score).sum().backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    rows = []
    hook = model.get_output_embeddings().register_forward_hook(lambda m, i, o: rows.append(o.shape[0]))
    try:
        out = forward_logprobs(model, input_ids, attention_mask, chunk_size=4, with_entropy=True,
                               value_head=head, score_mask=score)
        (out.logprobs * weights).sum().backward()
    finally:
        hook.remove()
    wanted = score & attention_mask.bool()
    wanted[:, 0] = False
    assert sum(rows[: len(rows) // 2]) == int(wanted.sum()) == 12 + 2  # not the 30 targets of the batch
    torch.testing.assert_close(out.logprobs, torch.where(wanted, full.logprobs, 0.0), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out.entropy, torch.where(wanted, full.entropy, 0.0), atol=1e-6, rtol=1e-6)
    assert torch.equal(out.values, full.values)  # the value head still sees every position
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], atol=1e-6, rtol=1e-5)
    model.zero_grad()
    nothing = forward_logprobs(model, input_ids, attention_mask, score_mask=torch.zeros_like(score))
    assert torch.equal(nothing.logprobs, torch.zeros(B, T))
    nothing.logprobs.sum().backward()  # a filler micro-batch: zero gradients, not an error
    assert torch.equal(model.get_output_embeddings().weight.grad, torch.zeros_like(model.get_output_embeddings().weight))


def test_no_grad_for_a_reference_model(cache_dir):
    reference = build_tiny(cache_dir=cache_dir, trainable=False).model
    input_ids, attention_mask = left_padded_batch(reference.config.vocab_size)
    out = forward_logprobs(reference, input_ids, attention_mask, chunk_size=5)
    assert out.logprobs.grad_fn is None
    with torch.no_grad():
        assert forward_logprobs(reference, input_ids, attention_mask).logprobs.grad_fn is None


def test_values_are_aligned_with_logprobs(tiny):
    input_ids, attention_mask = left_padded_batch(len(tiny.tokenizer))
    head = ValueHead(tiny.model.config.hidden_size)
    with torch.no_grad():
        head.linear.weight.normal_(generator=torch.Generator().manual_seed(0))
    out = forward_logprobs(tiny.model, input_ids, attention_mask, value_head=head)
    hidden = naive(tiny.model, input_ids, attention_mask)[2]
    expected = head(hidden)[:, :-1] * attention_mask[:, 1:]  # V of the state before token t
    torch.testing.assert_close(out.values, torch.cat([torch.zeros(B, 1), expected], 1), atol=1e-5, rtol=1e-5)
    out.values.sum().backward()
    assert head.linear.weight.grad.abs().sum() > 0


def test_lora_with_gradient_checkpointing(cache_dir):
    settings = LoraSettings(rank=4, alpha=8.0)
    plain = build_tiny(cache_dir=cache_dir, seed=2, lora=settings).model
    checkpointed = build_tiny(cache_dir=cache_dir, seed=2, lora=settings, gradient_checkpointing=True).model
    with torch.no_grad():  # B starts at 0: move it so A gets gradients too
        for name, p in plain.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)
    checkpointed.load_state_dict(plain.state_dict())
    input_ids, attention_mask = left_padded_batch(plain.config.vocab_size, seed=3)
    grads = []
    for model in (plain, checkpointed):
        forward_logprobs(model, input_ids, attention_mask, chunk_size=6).logprobs.sum().backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) == 28
    for name in grads[0]:
        assert grads[0][name].abs().sum() > 0, name
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=1e-4)
    # the peft wrapper and the plain model agree on the forward values
    out = forward_logprobs(plain, input_ids, attention_mask)
    expected = naive(plain, input_ids, attention_mask)[0]
    torch.testing.assert_close(out.logprobs, expected, atol=1e-5, rtol=1e-5)
