import math

import pytest
import torch

from rlx.algos.losses import aggregate, gspo, loss_normalizers, ppo_clip

LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
MASK = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.bool)  # row 2: zero-length


@pytest.mark.parametrize(
    "agg, norm_len, expected",
    [
        ("token_mean", None, (1 + 2 + 4) / 3),  # 7/3; tokens of empty rows do not exist
        ("seq_mean_token_mean", None, ((1 + 2) / 2 + 4 / 1) / 2),  # 2.75; the empty row is not a sequence
        ("seq_mean_token_sum_norm", None, ((1 + 2) / 3 + 4 / 3) / 2),  # norm_len = T = 3 -> 7/6
        ("seq_mean_token_sum_norm", 10, ((1 + 2) / 10 + 4 / 10) / 2),  # 0.35
    ],
)
def test_aggregate_by_hand(agg, norm_len, expected):
    assert aggregate(LOSS, MASK, agg, norm_len).item() == pytest.approx(expected)


def test_aggregate_with_global_counts():
    assert aggregate(LOSS, MASK, "token_mean", num_tokens=14).item() == pytest.approx(7 / 14)
    assert aggregate(LOSS, MASK, "seq_mean_token_mean", num_seqs=4).item() == pytest.approx(5.5 / 4)
    assert loss_normalizers(MASK) == (3.0, 2.0)
    assert aggregate(LOSS, torch.zeros_like(MASK), "seq_mean_token_mean").item() == 0.0


def _ratios_to_logprobs(ratios):
    old = torch.zeros(1, len(ratios), dtype=torch.float64)
    return torch.log(torch.tensor([ratios], dtype=torch.float64)), old


def test_ppo_clip_by_hand():
    logp, old = _ratios_to_logprobs([1.5, 0.5, 1.1, 0.7])
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]], dtype=torch.float64)
    mask = torch.ones(1, 4, dtype=torch.bool)
    # t0 r=1.5,A=1: max(-1.5, -1.2) = -1.2 (clipped)   t1 r=.5,A=1: max(-.5, -.8) = -.5
    # t2 r=1.1,A=-1: max(1.1, 1.1) = 1.1               t3 r=.7,A=-1: max(.7, .8) = .8 (clipped)
    loss, stats = ppo_clip(logp, old, adv, mask)
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 1.1 + 0.8) / 4)
    assert stats["policy/clipfrac"].item() == pytest.approx(0.5)
    assert stats["policy/ratio_mean"].item() == pytest.approx((1.5 + 0.5 + 1.1 + 0.7) / 4)
    k3 = sum(r - 1 - math.log(r) for r in [1.5, 0.5, 1.1, 0.7]) / 4
    assert stats["policy/approx_kl"].item() == pytest.approx(k3)
    # clip-higher 0.28: t0 becomes max(-1.5, -1.28) = -1.28, the rest is unchanged
    loss, _ = ppo_clip(logp, old, adv, mask, clip_low=0.2, clip_high=0.28)
    assert loss.item() == pytest.approx((-1.28 - 0.5 + 1.1 + 0.8) / 4)


def test_clip_higher_lets_a_positive_token_grow_further():
    logp, old = _ratios_to_logprobs([1.25])
    adv, mask = torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.bool)
    loss, stats = ppo_clip(logp, old, adv, mask, clip_high=0.2)
    assert (loss.item(), stats["policy/clipfrac"].item()) == (pytest.approx(-1.2), 1.0)
    loss, stats = ppo_clip(logp, old, adv, mask, clip_high=0.28)
    assert (loss.item(), stats["policy/clipfrac"].item()) == (pytest.approx(-1.25), 0.0)


def test_dual_clip_by_hand():
    logp, old = _ratios_to_logprobs([5.0, 5.0, 2.0, 5.0])
    logp.requires_grad_(True)
    adv = torch.tensor([[-1.0, -2.0, -1.0, 1.0]], dtype=torch.float64)
    mask = torch.ones(1, 4, dtype=torch.bool)
    # t0: max(5, 1.2) = 5 -> bounded at -A*c = 3       t1: max(10, 2.4) = 10 -> bounded at 6
    # t2: max(2, 1.2) = 2 < 3 stays                      t3 (A>0): max(-5, -1.2) = -1.2 untouched
    loss, stats = ppo_clip(logp, old, adv, mask, dual_clip=3.0)
    assert loss.item() == pytest.approx((3 + 6 + 2 - 1.2) / 4)
    assert stats["policy/dual_clipfrac"].item() == pytest.approx(0.5)
    loss.backward()  # dual-clipped and clipped tokens get no gradient; t2: d(-A r)/dlogp = r / 4
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, 0.0, 0.5, 0.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="dual_clip"):
        ppo_clip(logp, old, adv, mask, dual_clip=0.5)


@pytest.mark.parametrize("agg", ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"])
def test_ppo_clip_aggregations_by_hand(agg):
    # ratio 1 everywhere -> per-token loss is -A
    adv = torch.tensor([[1.0, 2.0, 9.0], [4.0, 9.0, 9.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    zeros = torch.zeros(2, 3)
    expected = {"token_mean": -7 / 3, "seq_mean_token_mean": -2.75, "seq_mean_token_sum_norm": -7 / 6}[agg]
    assert ppo_clip(zeros, zeros, adv, mask, agg=agg)[0].item() == pytest.approx(expected)


def test_padding_garbage_is_ignored():
    logp = torch.tensor([[0.1, float("-inf")]])
    old = torch.tensor([[0.0, 0.0]])
    adv = torch.tensor([[1.0, float("nan")]])
    mask = torch.tensor([[True, False]])
    loss, stats = ppo_clip(logp, old, adv, mask)
    assert torch.isfinite(loss) and all(torch.isfinite(v) for v in stats.values())


def test_gspo_by_hand():
    # row 0: log-ratios (log 1.2, 0) -> s = exp(log(1.2)/2) = sqrt(1.2); row 1: one token, s = 0.5
    logp = torch.tensor([[math.log(1.2), 0.0], [math.log(0.5), 3.0]], dtype=torch.float64, requires_grad=True)
    old = torch.zeros(2, 2, dtype=torch.float64)
    adv = torch.tensor([[1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    mask = torch.tensor([[1, 1], [1, 0]], dtype=torch.bool)
    loss, stats = gspo(logp, old, adv, mask, clip_low=0.2, clip_high=0.2)
    # row 0: -A s = -1.0954 (inside the range); row 1: max(0.5, 0.8) = 0.8 (clipped); seq mean
    assert loss.item() == pytest.approx((-(1.2**0.5) + 0.8) / 2)
    assert stats["policy/clipfrac"].item() == pytest.approx(1 / 3)  # 1 of 3 action tokens
    loss.backward()  # row 0 tokens: -A * s * (1/2 tokens) * (1/2 seqs); row 1 clipped: 0
    g = 1.2**0.5 / 4
    torch.testing.assert_close(logp.grad, torch.tensor([[-g, -g], [0.0, 0.0]], dtype=torch.float64))


def gspo_sequence_reference(logp, old, seq_adv, mask, clip_low, clip_high):
    """The paper's sequence-level objective, one sequence at a time."""
    losses = []
    for b in range(logp.shape[0]):
        idx = [t for t in range(logp.shape[1]) if mask[b, t]]
        if not idx:
            continue
        s = torch.exp(sum(logp[b, t] - old[b, t] for t in idx) / len(idx))
        a = seq_adv[b]
        losses.append(torch.maximum(-a * s, -a * s.clamp(1 - clip_low, 1 + clip_high)))
    return sum(losses) / len(losses)


def ppo_token_reference(logp, old, adv, mask, clip_low, clip_high, dual_clip, agg, norm_len):
    """Per-token PPO loss with explicit loops over sequences and tokens."""
    seq_losses, all_tokens, T = [], [], logp.shape[1]
    for b in range(logp.shape[0]):
        row = []
        for t in range(T):
            if not mask[b, t]:
                continue
            r = torch.exp(logp[b, t] - old[b, t])
            a = adv[b, t]
            l = torch.maximum(-a * r, -a * torch.clamp(r, 1 - clip_low, 1 + clip_high))
            if dual_clip is not None and a < 0:
                l = torch.minimum(l, -a * dual_clip)
            row.append(l)
        all_tokens += row
        if row:
            seq_losses.append(sum(row) / (len(row) if agg == "seq_mean_token_mean" else norm_len or T))
    if agg == "token_mean":
        return sum(all_tokens) / max(len(all_tokens), 1)
    return sum(seq_losses) / max(len(seq_losses), 1)


def _random_policy_batch(batch, tokens, seed):
    gen = torch.Generator().manual_seed(seed)
    old = -torch.rand(batch, tokens, generator=gen, dtype=torch.float64) * 3
    logp = (old + 0.4 * torch.randn(batch, tokens, generator=gen, dtype=torch.float64)).requires_grad_(True)
    adv = torch.randn(batch, tokens, generator=gen, dtype=torch.float64)
    mask = torch.rand(batch, tokens, generator=gen) < 0.7
    mask[0] = False
    return logp, old, adv, mask


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", [(2, 3), (6, 11)])
@pytest.mark.parametrize("agg", ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"])
@pytest.mark.parametrize("clips", [(0.2, 0.2, None), (0.2, 0.28, None), (0.1, 0.3, 3.0)])
def test_ppo_clip_matches_loop_reference(seed, shape, agg, clips):
    logp, old, adv, mask = _random_policy_batch(*shape, seed)
    low, high, dual = clips
    loss, _ = ppo_clip(logp, old, adv, mask, clip_low=low, clip_high=high, dual_clip=dual, agg=agg)
    expected = ppo_token_reference(logp, old, adv, mask, low, high, dual, agg, None)
    torch.testing.assert_close(loss, expected)
    (grad,) = torch.autograd.grad(loss, logp)
    (expected_grad,) = torch.autograd.grad(expected, logp)
    torch.testing.assert_close(grad, expected_grad)


@pytest.mark.parametrize("seed", range(4))
def test_gspo_token_form_equals_sequence_level_gspo(seed):
    logp, old, _, mask = _random_policy_batch(7, 9, seed)
    logp = (old + 0.05 * (logp - old)).detach().requires_grad_(True)  # ratios near 1, some clipped
    seq_adv = torch.randn(7, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    adv = seq_adv[:, None].expand(7, 9)
    loss, _ = gspo(logp, old, adv, mask, clip_low=0.01, clip_high=0.02)
    expected = gspo_sequence_reference(logp, old, seq_adv, mask, 0.01, 0.02)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(torch.autograd.grad(loss, logp)[0], torch.autograd.grad(expected, logp)[0])


def _split(tensors, sizes):
    out, start = [], 0
    for size in sizes:
        out.append([t[start:start + size] for t in tensors])
        start += size
    return out


@pytest.mark.parametrize("loss_fn", [ppo_clip, gspo])
@pytest.mark.parametrize("agg", ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"])
def test_micro_batches_sum_to_the_full_batch_loss(loss_fn, agg):
    logp, old, adv, mask = _random_policy_batch(8, 10, seed=3)
    kwargs = {"clip_low": 0.2, "clip_high": 0.28, "agg": agg, "norm_len": 10}
    full, _ = loss_fn(logp, old, adv, mask, **kwargs)
    full_grad = torch.autograd.grad(full, logp)[0]
    num_tokens, num_seqs = loss_normalizers(mask)
    total = sum(
        loss_fn(*mb, **kwargs, num_tokens=num_tokens, num_seqs=num_seqs)[0]
        for mb in _split([logp, old, adv, mask], [3, 3, 2])
    )
    torch.testing.assert_close(total, full)
    torch.testing.assert_close(torch.autograd.grad(total, logp)[0], full_grad)
