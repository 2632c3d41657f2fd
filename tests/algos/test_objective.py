import functools

import pytest
import torch

from rlx.algos.entropy import entropy_from_logits
from rlx.algos.kl import kl_penalty, value_loss
from rlx.algos.losses import aggregate, loss_normalizers, ppo_clip
from rlx.algos.objective import Objective


def _batch(seed=0, batch=6, tokens=8, vocab=5):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, tokens, vocab, generator=gen, dtype=torch.float64, requires_grad=True)
    old = -torch.rand(batch, tokens, generator=gen, dtype=torch.float64)
    mask = torch.rand(batch, tokens, generator=gen) < 0.75
    mask[1] = False
    return {
        "logits": logits,
        "old_logprobs": old,
        "advantages": torch.randn(batch, tokens, generator=gen, dtype=torch.float64),
        "action_mask": mask,
        "ref_logprobs": old + 0.1 * torch.randn(batch, tokens, generator=gen, dtype=torch.float64),
        "values": torch.randn(batch, tokens, generator=gen, dtype=torch.float64, requires_grad=True),
        "old_values": torch.randn(batch, tokens, generator=gen, dtype=torch.float64),
        "returns": torch.randn(batch, tokens, generator=gen, dtype=torch.float64),
    }


def _forward(b, sl=slice(None)):
    logits = b["logits"][sl]
    logprobs = torch.log_softmax(logits, -1)[..., 0]  # the log-prob of token 0 stands in for the action
    return logprobs, entropy_from_logits(logits)


def _call(objective, b, sl=slice(None), **extra):
    logprobs, entropy = _forward(b, sl)
    return objective(
        logprobs, b["old_logprobs"][sl], b["advantages"][sl], b["action_mask"][sl],
        ref_logprobs=b["ref_logprobs"][sl], entropy=entropy, values=b["values"][sl],
        old_values=b["old_values"][sl], returns=b["returns"][sl], **extra,
    )


POLICY = functools.partial(ppo_clip, clip_low=0.2, clip_high=0.28, agg="seq_mean_token_mean")


def test_total_is_the_weighted_sum_of_its_terms():
    b = _batch()
    objective = Objective(POLICY, kl_coef=0.1, kl_estimator="k2", entropy_coef=0.01, value_coef=0.5)
    loss, stats = _call(objective, b)
    logprobs, entropy = _forward(b)
    mask = b["action_mask"]
    policy, _ = POLICY(logprobs, b["old_logprobs"], b["advantages"], mask)
    kl = aggregate(kl_penalty(logprobs, b["ref_logprobs"], "k2"), mask)
    ent = aggregate(entropy, mask)
    critic, _ = value_loss(b["values"], b["returns"], b["old_values"], mask, 0.2)
    torch.testing.assert_close(loss, policy + 0.1 * kl - 0.01 * ent + 0.5 * critic)
    for name, value in [("loss/policy", policy), ("loss/kl", kl), ("loss/entropy", ent), ("loss/value", critic)]:
        torch.testing.assert_close(stats[name], value.detach())
    assert {"policy/clipfrac", "policy/approx_kl", "value/clipfrac", "loss/total"} <= stats.keys()
    assert not any(v.requires_grad for v in stats.values())


def test_micro_batches_sum_to_the_full_batch_objective():
    b = _batch(seed=4)
    objective = Objective(POLICY, kl_coef=0.05, entropy_coef=0.02, value_coef=0.3, value_clip=0.1)
    full, _ = _call(objective, b)
    grads = torch.autograd.grad(full, [b["logits"], b["values"]])
    num_tokens, num_seqs = loss_normalizers(b["action_mask"])
    parts = [_call(objective, b, slice(i, i + 2), num_tokens=num_tokens, num_seqs=num_seqs)[0]
             for i in range(0, 6, 2)]
    total = sum(parts)
    torch.testing.assert_close(total, full)
    for got, expected in zip(torch.autograd.grad(total, [b["logits"], b["values"]]), grads):
        torch.testing.assert_close(got, expected)


def test_kl_in_reward_keeps_kl_out_of_the_loss():
    b = _batch(seed=1)
    in_reward = Objective(POLICY, kl_coef=0.1, kl_in="reward")
    no_kl = Objective(POLICY, kl_coef=0.0)
    loss, stats = _call(in_reward, b)
    torch.testing.assert_close(loss, _call(no_kl, b)[0])
    assert "loss/kl" in stats  # still logged
    penalty = in_reward.reward_kl(b["old_logprobs"], b["ref_logprobs"], b["action_mask"])
    expected = 0.1 * kl_penalty(b["old_logprobs"], b["ref_logprobs"], "k3") * b["action_mask"]
    torch.testing.assert_close(penalty, expected)
    in_loss = Objective(POLICY, kl_coef=0.1, kl_in="loss")
    assert torch.equal(in_loss.reward_kl(b["old_logprobs"], b["ref_logprobs"]), torch.zeros(6, 8, dtype=torch.float64))
    assert in_reward.needs_reference and in_loss.needs_reference and not no_kl.needs_reference


def test_missing_inputs_and_bad_settings_raise():
    b = _batch()
    logprobs, _ = _forward(b)
    args = (logprobs, b["old_logprobs"], b["advantages"], b["action_mask"])
    with pytest.raises(ValueError, match="ref_logprobs"):
        Objective(POLICY, kl_coef=0.1)(*args)
    with pytest.raises(ValueError, match="entropy"):
        Objective(POLICY, entropy_coef=0.1)(*args)
    with pytest.raises(ValueError, match="returns"):
        Objective(POLICY)(*args, values=b["values"])
    with pytest.raises(ValueError, match="value_clip"):
        Objective(POLICY, value_clip=0.0)
    loss, stats = Objective(POLICY)(*args)  # policy only
    assert "loss/value" not in stats and torch.isfinite(loss)


def test_stats_are_shares_that_sum_to_the_mini_batch_stats():
    b = _batch(seed=2)
    objective = Objective(POLICY, kl_coef=0.05, entropy_coef=0.02)
    _, full = _call(objective, b)
    num_tokens, num_seqs = loss_normalizers(b["action_mask"])
    parts = [_call(objective, b, slice(i, i + 3), num_tokens=num_tokens, num_seqs=num_seqs)[1]
             for i in (0, 3)]
    assert parts[0].keys() == full.keys()
    for name, value in full.items():
        torch.testing.assert_close(parts[0][name] + parts[1][name], value, msg=name)


def test_two_value_heads_each_train_on_their_own_tokens():
    b = _batch()
    gen = torch.Generator().manual_seed(1)
    shape = (*b["action_mask"].shape, 2)
    values = torch.randn(shape, generator=gen, dtype=torch.float64)
    old, returns = torch.randn(shape, generator=gen, dtype=torch.float64), torch.randn(shape, generator=gen, dtype=torch.float64)
    heads = torch.stack([b["action_mask"], b["action_mask"] & (torch.rand(b["action_mask"].shape, generator=gen) < 0.3)], -1)
    objective = Objective(POLICY, value_coef=0.5)
    logprobs, _ = _forward(b)
    loss, stats = objective(logprobs, b["old_logprobs"], b["advantages"], b["action_mask"], values=values,
                            old_values=old, returns=returns, value_mask=heads)
    critic = sum(value_loss(values[..., h], returns[..., h], old[..., h], heads[..., h], 0.2)[0] for h in range(2))
    torch.testing.assert_close(stats["loss/value"], critic)
    policy, _ = POLICY(logprobs, b["old_logprobs"], b["advantages"], b["action_mask"])
    torch.testing.assert_close(loss, policy + 0.5 * critic)
    assert "value/head1_mean" in stats and "value/mean" in stats
    with pytest.raises(ValueError, match="value_mask"):
        objective(logprobs, b["old_logprobs"], b["advantages"], b["action_mask"], values=values,
                  old_values=old, returns=returns)
