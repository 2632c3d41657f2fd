"""EPO's entropy smoothing: phase weights, the corridor penalty, the per-turn history, and the
objective's value and gradients with it."""

import pytest
import torch

from rlx.algos.entropy_smoothing import (EntropyHistory, EntropySmoothing, corridor_penalty,
                                         phase_weight)
from rlx.algos.losses import ppo_clip
from rlx.algos.objective import Objective


@pytest.mark.parametrize("progress, expected", [
    (0.0, 1.0),
    (0.25, 0.8735759),    # 1 - 0.2 (1 - e^-1)
    (0.5, 0.8270671),     # 1 - 0.2 (1 - e^-2)
    (0.75, 0.1785041),    # 0.8 e^-1.5
    (1.0, 0.0398297),     # 0.8 e^-3
    (1.5, 0.0398297),     # clamped to 1
])
def test_phase_weight_by_hand(progress, expected):
    assert phase_weight(progress) == pytest.approx(expected, abs=1e-7)


def test_corridor_penalty_is_zero_inside_the_band():
    entropy = torch.tensor([0.2, 0.5, 1.0, 2.0, 2.5])
    reference = torch.ones(5)
    assert corridor_penalty(entropy, reference, 0.5, 2.0).tolist() == pytest.approx([0.3, 0, 0, 0, 0.5])
    # band_low 0 (the paper's runs): no floor
    assert corridor_penalty(entropy, reference, 0.0, 2.0).tolist() == pytest.approx([0, 0, 0, 0, 0.5])


def test_history_is_a_per_turn_mean_over_iterations():
    history = EntropyHistory()
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.bool)
    turns = torch.tensor([0, 1, 1])  # row 2 has no action tokens: it does not count
    history.observe(torch.tensor([[1.0, 3.0, 9.0], [4.0, 9.0, 9.0], [9.0, 9.0, 9.0]]), mask, turns)
    assert history.reference(torch.tensor([0, 1, 5])).tolist() == [2.0, 4.0, 0.0]  # 5: unseen
    history.observe(torch.tensor([[4.0, 4.0, 0.0], [9.0, 9.0, 9.0], [0.0, 0.0, 0.0]]),
                    mask, torch.tensor([0, 0, 0]))
    # turn 0: iteration means 2 and (4 + 4 + 9) / 3; turn 1 seen once
    assert history.reference(torch.tensor([0, 1])).tolist() == pytest.approx([(2 + 17 / 3) / 2, 4.0])
    restored = EntropyHistory()
    restored.load_state_dict(history.state_dict())
    assert restored == history


def test_objective_with_smoothing_value_and_gradient():
    smoothing = EntropySmoothing(coef=1.0, band_low=0.0, band_high=2.0)
    objective = Objective(policy=ppo_clip, entropy_coef=0.1, smoothing=smoothing)
    logp = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    entropy = torch.tensor([[0.5, 1.0, 3.0]], dtype=torch.float64, requires_grad=True)
    mask = torch.ones(1, 3, dtype=torch.bool)
    loss, stats = objective(logp, logp.detach(), torch.zeros(1, 3, dtype=torch.float64), mask,
                            entropy=entropy, entropy_ref=torch.ones(1, 3))
    # H = 1.5, P = mean(0, 0, 3 - 2) = 1/3, w = 1 at progress 0: -0.1 (1.5 - 1/3)
    assert loss.item() == pytest.approx(-0.1 * (1.5 - 1 / 3))
    assert stats["loss/entropy_smoothing"].item() == pytest.approx(1 / 3)
    assert stats["policy/entropy_out_of_band"].item() == pytest.approx(1 / 3)
    loss.backward()
    # in band: -0.1/3 (the bonus); above the band the penalty cancels the bonus exactly
    torch.testing.assert_close(entropy.grad, torch.tensor([[-0.1 / 3, -0.1 / 3, 0.0]], dtype=torch.float64))
    # late in training the phase weight shrinks the penalty: progress 0.75 -> w = 0.8 e^-1.5
    late, _ = objective.scheduled(0.75)(logp, logp.detach(), torch.zeros(1, 3, dtype=torch.float64),
                                        mask, entropy=entropy, entropy_ref=torch.ones(1, 3))
    assert late.item() == pytest.approx(-0.1 * (1.5 - 0.1785041 / 3))


def test_objective_smoothing_needs_entropy_coef_and_reference():
    with pytest.raises(ValueError, match="entropy_coef > 0"):
        Objective(policy=ppo_clip, smoothing=EntropySmoothing())
    with pytest.raises(ValueError, match="band_low"):
        EntropySmoothing(band_low=1.5)
    objective = Objective(policy=ppo_clip, entropy_coef=0.1, smoothing=EntropySmoothing())
    x = torch.zeros(1, 2)
    with pytest.raises(ValueError, match="entropy_ref"):
        objective(x, x, x, torch.ones(1, 2, dtype=torch.bool), entropy=x)
    assert Objective(policy=ppo_clip).scheduled(0.5) == Objective(policy=ppo_clip)
