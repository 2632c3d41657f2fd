"""EPO's entropy smoothing: keep the policy entropy inside a band around its historical average.

Xu et al., "EPO: Entropy-regularized Policy Optimization for LLM Agents Reinforcement
Learning", arXiv 2509.22576 (code: github.com/WujiangXu/EPO). The variant rlx implements
(conf/loss/epo.yaml sets `Objective(entropy_coef=lambda, smoothing=EntropySmoothing(...))`):

    loss = policy - lambda * ( H - c * beta(p) * P )

    H        token mean of the policy entropy over all action tokens of all turns of all
             trajectories (the paper's trajectory-level entropy; the authors' code computes
             exactly this token mean over the step rows).
    P        token mean of the corridor penalty, per action token i of a row at turn t:
                 relu(kappa_l * Hbar_t - H_i) + relu(H_i - kappa_r * Hbar_t)
             0 inside [kappa_l Hbar_t, kappa_r Hbar_t]. Hbar_t (`EntropyHistory`) is the mean,
             over all iterations so far (cumulative, the current one included), of the rollout
             policy's token-mean entropy at turn t (the row's step id; single-turn rows and
             whole-trajectory rows are turn 0) -- the per-turn reference of the authors' code.
    beta(p)  the phase weight at training progress p = iteration / iterations (`phase_weight`):
             a slow exponential decay from 1 to `mid_weight` over the first half, then a fast one
             from `mid_weight` towards 0 over the second half (the authors' code's schedule).

Deliberate differences from the authors' code: the penalty is the paper's hinge, which has a
gradient (their code adds a constant per out-of-band token, which has none); it applies to every
turn (their code applies it only to micro-batches that contain a turn in the second half of the
step limit). Defaults: kappa_l = 0, kappa_r = 2 (the paper's reported runs), c = 1.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor


def phase_weight(progress: float, *, slow_rate: float = 2.0, fast_rate: float = 3.0,
                 mid_weight: float = 0.8) -> float:
    """beta(p) for training progress p in [0, 1] (clamped):

        p <= 1/2:  1 - (1 - mid_weight) * (1 - exp(-slow_rate * 2p))
        p >  1/2:  mid_weight * exp(-fast_rate * (2p - 1))

    beta(0) = 1; with the defaults beta(1/2) = 0.827 and beta(1) = 0.8 e^-3 = 0.040.
    """
    p = min(max(progress, 0.0), 1.0)
    if p <= 0.5:
        return 1.0 - (1.0 - mid_weight) * (1.0 - math.exp(-slow_rate * 2.0 * p))
    return mid_weight * math.exp(-fast_rate * (2.0 * p - 1.0))


def corridor_penalty(entropy: Tensor, reference: Tensor, band_low: float, band_high: float) -> Tensor:
    """relu(band_low * ref - H) + relu(H - band_high * ref), elementwise; (B, T) -> (B, T)."""
    return torch.relu(band_low * reference - entropy) + torch.relu(entropy - band_high * reference)


@dataclass(frozen=True)
class EntropySmoothing:
    """EPO's smoothing term with its schedule (see the module docstring).

    coef: c, the penalty weight (the Objective multiplies it by its entropy_coef, lambda).
    band_low / band_high: kappa_l, kappa_r; the band is [kappa_l Hbar, kappa_r Hbar].
    slow_rate / fast_rate / mid_weight: the phase schedule `phase_weight`.
    progress: training progress in [0, 1]; the trainer sets it each iteration (`at`).
    """

    coef: float = 1.0
    band_low: float = 0.0
    band_high: float = 2.0
    slow_rate: float = 2.0
    fast_rate: float = 3.0
    mid_weight: float = 0.8
    progress: float = 0.0

    def __post_init__(self) -> None:
        if self.coef < 0 or not 0 <= self.band_low <= 1 <= self.band_high:
            raise ValueError("loss.smoothing: need coef >= 0 and 0 <= band_low <= 1 <= band_high "
                             f"(got coef={self.coef}, band_low={self.band_low}, "
                             f"band_high={self.band_high})")

    @property
    def weight(self) -> float:
        """c * beta(progress)."""
        return self.coef * phase_weight(self.progress, slow_rate=self.slow_rate,
                                        fast_rate=self.fast_rate, mid_weight=self.mid_weight)

    def at(self, progress: float) -> "EntropySmoothing":
        return dataclasses.replace(self, progress=progress)

    def penalty(self, entropy: Tensor, reference: Tensor) -> Tensor:
        return corridor_penalty(entropy, reference, self.band_low, self.band_high)


@dataclass
class EntropyHistory:
    """Hbar_t: per turn t, the mean over iterations of the rollout policy's token-mean entropy
    at that turn. Kept by the trainer and saved in checkpoints."""

    sums: dict[int, float] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)

    def observe(self, entropy: Tensor, action_mask: Tensor, turns: Tensor) -> None:
        """Add one iteration: entropy (B, T), action_mask (B, T), turns (B,) the rows' turn ids."""
        mask = action_mask.bool()
        for turn in torch.unique(turns[mask.any(-1)]).tolist():
            rows = (turns == turn)[:, None] & mask
            self.sums[turn] = self.sums.get(turn, 0.0) + entropy[rows].float().mean().item()
            self.counts[turn] = self.counts.get(turn, 0) + 1

    def reference(self, turns: Tensor) -> Tensor:
        """Hbar of each row's turn, (B,) float32; 0 for a turn never observed."""
        return torch.tensor([self.sums.get(t, 0.0) / self.counts.get(t, 1) for t in turns.tolist()],
                            dtype=torch.float32)

    def state_dict(self) -> dict:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict) -> None:
        self.sums, self.counts = dict(state["sums"]), dict(state["counts"])
