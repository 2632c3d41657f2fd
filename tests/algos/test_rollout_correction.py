"""Sampler/trainer mismatch metrics and the TIS / MIS corrections, with literal values.

Two sequences, sampler log-probs 0, so the trainer's log-probs are the log-ratios d and
rho = exp(d): row 0 rho = [3, 0.4, 1] (+ one padding column), row 1 rho = [1.5, 1.5]."""

import functools
import math

import pytest
import torch

from rlx.algos.losses import ppo_clip
from rlx.algos.objective import Objective
from rlx.algos.rollout_correction import correction_weights, mismatch_metrics

RHO = [[3.0, 0.4, 1.0, 1.0], [1.5, 1.5, 1.0, 1.0]]
MASK = torch.tensor([[True, True, True, False], [True, True, False, False]])
TRAINER = torch.log(torch.tensor(RHO))
SAMPLER = torch.zeros(2, 4)


def weights(**kw):
    return correction_weights(TRAINER, SAMPLER, MASK, **kw)


def test_mismatch_metrics_are_mean_abs_diff_and_k3_kl_of_sampler_to_trainer():
    m = mismatch_metrics(TRAINER, SAMPLER, MASK)
    abs_diff = (math.log(3) + math.log(2.5) + 0 + 2 * math.log(1.5)) / 5  # 0.5651666
    k3 = ((3 - 1 - math.log(3)) + (0.4 - 1 - math.log(0.4)) + 0 + 2 * (1.5 - 1 - math.log(1.5))) / 5
    assert m["rollout/logprob_abs_diff"].item() == pytest.approx(0.5651666, abs=1e-6)
    assert m["rollout/logprob_abs_diff"].item() == pytest.approx(abs_diff, rel=1e-6)
    assert m["rollout/mismatch_kl"].item() == pytest.approx(0.2813498, abs=1e-6)
    assert m["rollout/mismatch_kl"].item() == pytest.approx(k3, rel=1e-6)


def test_identical_log_probs_have_no_mismatch_and_weight_one():
    m = mismatch_metrics(TRAINER, TRAINER, MASK)
    assert m["rollout/logprob_abs_diff"].item() == 0.0 and m["rollout/mismatch_kl"].item() == 0.0
    w, stats, seq = correction_weights(TRAINER, TRAINER, MASK, mode="tis")
    assert torch.equal(w, MASK.float()) and stats["rollout/is_clipped_frac"].item() == 0.0


def test_tis_token_truncates_each_ratio_at_c():
    w, stats, seq = weights(mode="tis", level="token", high=2.0)
    torch.testing.assert_close(w, torch.tensor([[2.0, 0.4, 1.0, 0.0], [1.5, 1.5, 0.0, 0.0]]))
    assert stats["rollout/is_weight_mean"].item() == pytest.approx(6.4 / 5)
    assert stats["rollout/is_clipped_frac"].item() == pytest.approx(1 / 5)
    assert seq["rollout/is_clipped_seq_frac"].item() == pytest.approx(1 / 2)
    assert not w.requires_grad


def test_tis_sequence_truncates_the_product_of_ratios():
    w, stats, seq = weights(mode="tis", level="sequence", high=2.0)
    # row 0: 3 x 0.4 x 1 = 1.2 (kept); row 1: 1.5 x 1.5 = 2.25 -> 2
    torch.testing.assert_close(w, torch.tensor([[1.2, 1.2, 1.2, 0.0], [2.0, 2.0, 0.0, 0.0]]))
    assert stats["rollout/is_weight_mean"].item() == pytest.approx(7.6 / 5)
    assert stats["rollout/is_clipped_frac"].item() == pytest.approx(2 / 5)
    assert seq["rollout/is_clipped_seq_frac"].item() == pytest.approx(1 / 2)


def test_mis_token_zeroes_ratios_outside_the_band_default_low_is_one_over_c():
    w, stats, seq = weights(mode="mis", level="token", high=2.0)  # band [0.5, 2]
    torch.testing.assert_close(w, torch.tensor([[0.0, 0.0, 1.0, 0.0], [1.5, 1.5, 0.0, 0.0]]))
    assert stats["rollout/is_weight_mean"].item() == pytest.approx(4.0 / 5)
    assert stats["rollout/is_masked_frac"].item() == pytest.approx(2 / 5)
    assert seq["rollout/is_masked_seq_frac"].item() == pytest.approx(1 / 2)
    w, stats, _ = weights(mode="mis", level="token", high=2.0, low=0.3)  # band [0.3, 2]: 0.4 stays
    torch.testing.assert_close(w, torch.tensor([[0.0, 0.4, 1.0, 0.0], [1.5, 1.5, 0.0, 0.0]]))
    assert stats["rollout/is_masked_frac"].item() == pytest.approx(1 / 5)


def test_mis_sequence_keeps_or_drops_whole_sequences_by_the_geometric_mean():
    # geometric means: row 0 1.2^(1/3) = 1.063 (inside [1/1.4, 1.4]), row 1 1.5 (outside)
    w, stats, seq = weights(mode="mis", level="sequence", high=1.4)
    # a kept sequence's tokens carry their own (untruncated) ratios
    torch.testing.assert_close(w, torch.tensor([[3.0, 0.4, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
    assert stats["rollout/is_weight_mean"].item() == pytest.approx(4.4 / 5)
    assert stats["rollout/is_masked_frac"].item() == pytest.approx(2 / 5)
    assert seq["rollout/is_masked_seq_frac"].item() == pytest.approx(1 / 2)


def test_bad_thresholds_are_refused():
    with pytest.raises(ValueError, match="thresholds"):
        weights(mode="tis", high=0.0)
    with pytest.raises(ValueError, match="rollout_correction_low"):
        Objective(functools.partial(ppo_clip), rollout_correction="mis", rollout_correction_high=2.0,
                  rollout_correction_low=3.0)


def _objective_call(objective, rows=slice(None), **extra):
    logprobs = TRAINER[rows].clone().requires_grad_(True)
    loss, stats = objective(logprobs, TRAINER[rows], torch.ones(2, 4)[rows], MASK[rows],
                            sampler_logprobs=SAMPLER[rows], **extra)
    return logprobs, loss, stats


def test_tis_weights_each_tokens_policy_gradient_term():
    objective = Objective(functools.partial(ppo_clip), rollout_correction="tis")
    logprobs, loss, stats = _objective_call(objective)
    # ratio to the old log-probs is 1 and A = 1: loss = -mean(w), d loss / d logp_t = -w_t / N
    assert loss.item() == pytest.approx(-6.4 / 5)
    loss.backward()
    torch.testing.assert_close(logprobs.grad, -torch.tensor([[2.0, 0.4, 1.0, 0.0], [1.5, 1.5, 0.0, 0.0]]) / 5)
    assert stats["rollout/is_weight_mean"].item() == pytest.approx(6.4 / 5)
    assert stats["rollout/mismatch_kl"].item() == pytest.approx(0.2813498, abs=1e-6)


def test_without_correction_the_mismatch_is_logged_and_the_loss_unchanged():
    objective = Objective(functools.partial(ppo_clip))
    _, loss, stats = _objective_call(objective)
    assert loss.item() == pytest.approx(-1.0)
    assert stats["rollout/logprob_abs_diff"].item() == pytest.approx(0.5651666, abs=1e-6)
    assert "rollout/is_weight_mean" not in stats


def test_correction_stats_of_micro_batches_add_up_to_the_batch_value():
    objective = Objective(functools.partial(ppo_clip), rollout_correction="mis",
                          rollout_correction_level="sequence", rollout_correction_high=1.4)
    _, whole, stats = _objective_call(objective)
    parts = [_objective_call(objective, slice(i, i + 1), num_tokens=5.0, num_seqs=2.0) for i in (0, 1)]
    assert sum(p[1].item() for p in parts) == pytest.approx(whole.item())
    for name in ("rollout/is_weight_mean", "rollout/is_masked_frac", "rollout/is_masked_seq_frac",
                 "rollout/logprob_abs_diff", "rollout/mismatch_kl"):
        assert sum(p[2][name].item() for p in parts) == pytest.approx(stats[name].item()), name


def test_a_correction_without_sampler_log_probs_is_an_error():
    objective = Objective(functools.partial(ppo_clip), rollout_correction="tis")
    with pytest.raises(ValueError, match="needs the sampler's log-probs"):
        objective(TRAINER, TRAINER, torch.ones(2, 4), MASK)
