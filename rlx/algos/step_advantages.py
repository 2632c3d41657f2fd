"""Step-level advantage estimators for multi-turn agents: GiGPO, HGPO, EMPG.

Data model (per-step samples, as verl-agent trains GiGPO): every policy step of every episode
is one row of the batch. A row's prompt is the task + a bounded history + the current
observation; its response is the step's action. The usual estimator arguments keep their
meaning, per row:

rewards      (B, T) float  the step's reward on its last action token (the row's reward is
                           the sum over its action tokens, like `sequence_scores`)
action_mask  (B, T)        the step's action tokens
group_ids    (B,)   long   the G episodes of one task share an id

and the step structure comes in `steps: StepInfo` (below). Estimators that need it carry
`requires_steps = True` (ask with `needs_steps(fn)`, which works on partials); the trainer
passes `steps=` only to those. Outputs are (B, T) and exactly 0 off action tokens.

Rows may come in any order; an episode is the pair (group id, episode id).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from rlx.algos.advantages import AdvantageFn, needs_values
from rlx.algos.episodes import (
    discounted_step_returns,
    episode_groups,
    episode_totals,
    next_step_rows,
    pair_index,
    step_table,
)
from rlx.algos.groups import group_size
from rlx.algos.normalize import normalize
from rlx.algos.returns import broadcast_to_actions, sequence_scores

StdChoice = Literal["group", "none"]


@dataclass(frozen=True)
class StepInfo:
    """Where each row sits in its episode (all (B,) long unless said otherwise).

    episode_ids: which trajectory (unique within its group).
    step_ids: the step's position in its episode, 0 = first action.
    anchor_ids: hashed anchor-state key of the step's current observation (`state_id` of
        `Observation.state_key`); equal ids within a group = the same environment state.
    context_ids: (B, K + 1) HGPO's context keys: column k hashes the last k (observation,
        action) pairs of history plus the current observation (`context_ids(...)` builds
        them), so column 0 is the current observation alone. None when unused.
    entropy: (B,) float, the mean policy entropy over the step's action tokens (EMPG).
        None when unused.
    planner_mask: (B, T) bool, the planner's tokens of each row (a subset of the action mask:
        HiPER's switch/subgoal text, HiMAC's blueprint); executor tokens are
        action_mask & ~planner_mask. None for flat agents.
    segment_ids: (B,) long, the subgoal segment of the step within its episode (HiPER: 0, 1,
        ... in step order; a new segment starts at each switch). None when unused.
    blueprint_ids: (B,) long, the blueprint the episode executes, unique within its group
        (HiMAC: several episodes share one). None when unused.
    iteration: the training iteration (HiMAC's co-evolution schedule reads it).
    """

    episode_ids: Tensor
    step_ids: Tensor
    anchor_ids: Tensor
    context_ids: Tensor | None = None
    entropy: Tensor | None = None
    planner_mask: Tensor | None = None
    segment_ids: Tensor | None = None
    blueprint_ids: Tensor | None = None
    iteration: int = 0

    def __post_init__(self) -> None:
        rows = self.episode_ids.shape
        if len(rows) != 1 or self.step_ids.shape != rows or self.anchor_ids.shape != rows:
            raise ValueError(
                f"StepInfo: episode_ids, step_ids and anchor_ids must all be (B,); got "
                f"{tuple(self.episode_ids.shape)}, {tuple(self.step_ids.shape)}, "
                f"{tuple(self.anchor_ids.shape)}")
        if self.context_ids is not None and (
                self.context_ids.dim() != 2 or self.context_ids.shape[0] != rows[0]
                or self.context_ids.shape[1] < 1):
            raise ValueError(f"StepInfo: context_ids must be (B, K + 1) with B = {rows[0]}; "
                             f"got {tuple(self.context_ids.shape)}")
        if self.entropy is not None and self.entropy.shape != rows:
            raise ValueError(f"StepInfo: entropy must be (B,) = {tuple(rows)}; "
                             f"got {tuple(self.entropy.shape)}")
        for name in ("segment_ids", "blueprint_ids"):
            value = getattr(self, name)
            if value is not None and value.shape != rows:
                raise ValueError(f"StepInfo: {name} must be (B,) = {tuple(rows)}; "
                                 f"got {tuple(value.shape)}")
        if self.planner_mask is not None and (
                self.planner_mask.dim() != 2 or self.planner_mask.shape[0] != rows[0]):
            raise ValueError(f"StepInfo: planner_mask must be (B, T) with B = {rows[0]}; "
                             f"got {tuple(self.planner_mask.shape)}")


def state_id(key: str) -> int:
    """A stable signed 64-bit id of a state key (blake2b; never Python's salted `hash`)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def context_ids(
    state_keys: Sequence[str], history: int, actions: Sequence[str] | None = None
) -> list[list[int]]:
    """HGPO context keys of one episode: out[t][k] for step t and level k = 0..history.

    Level k hashes the observations s_{t-k}, ..., s_t (with the actions a_{t-k}, ...,
    a_{t-1} in between when `actions` is given: what a prompt with a k-step history window
    shows); early steps use the history they have. out[t][0] == state_id(state_keys[t]).
    """
    out = []
    for t in range(len(state_keys)):
        row = []
        for k in range(history + 1):
            items: list[str] = []
            for j in range(max(0, t - k), t):
                items += [state_keys[j], actions[j]] if actions is not None else [state_keys[j]]
            row.append(state_id("\x1e".join([*items, state_keys[t]])))
        out.append(row)
    return out


def needs_steps(estimator: AdvantageFn) -> bool:
    """True when the estimator (a function or a functools.partial of one) needs `steps=`."""
    while isinstance(estimator, functools.partial):
        estimator = estimator.func
    return bool(getattr(estimator, "requires_steps", False))


def needs_agent_mode(estimator: AdvantageFn) -> str | None:
    """The `agent.mode` of `agent=hierarchical` whose rows the estimator needs (HiPER: "hiper",
    HiMAC: "himac"), None for estimators of flat agents; works on partials."""
    while isinstance(estimator, functools.partial):
        estimator = estimator.func
    return getattr(estimator, "requires_agent_mode", None)


def needs_entropy(estimator: AdvantageFn) -> bool:
    """True when the estimator reads the policy entropy (`steps.entropy`, EMPG), so the trainer
    must score the rollouts before computing advantages."""
    while isinstance(estimator, functools.partial):
        estimator = estimator.func
    return bool(getattr(estimator, "requires_entropy", False))


class _Layout(NamedTuple):
    episode: Tensor  # (B,) dense episode index of each row
    n_episodes: int
    groups: Tensor  # (E,) group id of each episode
    table: Tensor  # (E, S) row of each (episode, step), -1 if none


def _layout(group_ids: Tensor, steps: StepInfo) -> _Layout:
    if steps.episode_ids.shape != group_ids.shape:
        raise ValueError(f"steps describe {steps.episode_ids.shape[0]} rows but the batch has "
                         f"{group_ids.shape[0]}")
    episode, n = pair_index(group_ids, steps.episode_ids)
    return _Layout(episode, n, episode_groups(episode, group_ids, n),
                   step_table(episode, steps.step_ids, n))


def _episode_advantage(
    step_rewards: Tensor, layout: _Layout, std: StdChoice, eps: float
) -> tuple[Tensor, Tensor]:
    """Per-row (A^E, R): the episode's return R = sum of its step rewards, normalised over the
    group's unique episodes (each episode counted once, however many steps it has)."""
    totals = episode_totals(step_rewards, layout.episode, layout.n_episodes)
    advantage = normalize(totals, None, layout.groups, mean="group", std=std, eps=eps)
    return advantage[layout.episode], totals[layout.episode]


def _within(
    values: Tensor, group_ids: Tensor, keys: Tensor, std: StdChoice, eps: float
) -> tuple[Tensor, Tensor]:
    """Per-row (advantage, group size) within the groups of equal (group id, key).

    advantage = (x - mean) / F over the rows of the group, F = unbiased std + eps ("group")
    or 1 ("none"); 0 for a group of one or when all values are equal.
    """
    index, _ = pair_index(group_ids, keys)
    advantage = normalize(values, None, index, mean="group", std=std, eps=eps)
    return advantage, group_size(index, dtype=values.dtype)


def episode_level(
    rewards: Tensor,
    action_mask: Tensor,
    group_ids: Tensor,
    values: Tensor | None = None,
    *,
    steps: StepInfo,
    estimator: AdvantageFn,
) -> tuple[Tensor, Tensor]:
    """Run an episode-level estimator (GRPO, RLOO, REINFORCE++...) on per-step rows.

    Each episode becomes one sequence of one token whose reward is the episode return
    R = sum of its step rewards; `estimator` sees E episodes (each once, with its group id),
    and every row of an episode gets the episode's advantage on its action tokens. With
    one-step episodes this is the estimator itself. Returns (advantages, returns = R
    broadcast), both (B, T). Estimators that need a value head are refused (GAE runs on the
    rows directly).
    """
    if needs_values(estimator):
        raise ValueError("episode_level: value-based estimators (gae) run on the step rows "
                         "directly, not on episode returns")
    step_rewards = sequence_scores(rewards, action_mask)
    layout = _layout(group_ids, steps)
    totals = episode_totals(step_rewards, layout.episode, layout.n_episodes)
    one_token = torch.ones(layout.n_episodes, 1, dtype=torch.bool, device=totals.device)
    per_episode, _ = estimator(totals[:, None], one_token, layout.groups)
    advantage = per_episode[:, 0][layout.episode]
    return (broadcast_to_actions(advantage, action_mask),
            broadcast_to_actions(totals[layout.episode], action_mask))


episode_level.requires_steps = True


def gigpo(
    rewards: Tensor,
    action_mask: Tensor,
    group_ids: Tensor,
    values: Tensor | None = None,
    *,
    steps: StepInfo,
    gamma: float = 0.95,
    step_weight: float = 1.0,
    std: StdChoice = "group",
    eps: float = 1e-6,
) -> tuple[Tensor, Tensor]:
    """Group-in-Group Policy Optimization (Feng et al., arXiv 2505.10978).

    Episode level: R_i = sum of episode i's step rewards; A^E_i = (R_i - mean_g R) / F over
    the group's unique episodes. Step level: discounted step returns
    R_t = sum_{k >= t} gamma^(k - t) r_k within the episode; the rows of a group with equal
    `anchor_ids` (same environment state, from any of the group's episodes) form a step
    group, A^S_t = (R_t - mean over the step group) / F. F = unbiased std + eps
    (std="group", the reference's mean_std_norm) or 1 (std="none", mean_norm).
    A = A^E + step_weight * A^S on the row's action tokens.
    Singleton step groups get A^S = 0; all-equal returns give 0 (never NaN).

    Shapes: rewards, action_mask (B, T); group_ids (B,); steps (B,) per field.
    Returns (advantages, returns = R_t broadcast), both (B, T), 0 off action tokens.
    """
    step_rewards = sequence_scores(rewards, action_mask)
    layout = _layout(group_ids, steps)
    episode_adv, _ = _episode_advantage(step_rewards, layout, std, eps)
    step_returns = discounted_step_returns(step_rewards, layout.table, gamma)
    step_adv, _ = _within(step_returns, group_ids, steps.anchor_ids, std, eps)
    advantage = episode_adv + step_weight * step_adv
    return broadcast_to_actions(advantage, action_mask), broadcast_to_actions(step_returns, action_mask)


gigpo.requires_steps = True


def hgpo(
    rewards: Tensor,
    action_mask: Tensor,
    group_ids: Tensor,
    values: Tensor | None = None,
    *,
    steps: StepInfo,
    gamma: float = 0.95,
    alpha: float = 1.0,
    std: StdChoice = "group",
    episode_weight: float = 1.0,
    base_group: bool = False,
    eps: float = 1e-6,
) -> tuple[Tensor, Tensor]:
    """Hierarchy-of-Groups Policy Optimization (He et al., arXiv 2602.22817, ICLR 2026).

    What is implemented (the paper's scheme as its recipe describes it; details ours where
    marked):
    1. Discounted step returns R_t = sum_{k >= t} gamma^(k - t) r_k within the episode.
    2. Hierarchical groups: for each level k = 0..K (K + 1 = columns of `steps.context_ids`),
       the rows of a group with equal context_ids[:, k] form a group (k = 0: same current
       observation, i.e. GiGPO's step group; larger k: also the same last k steps of
       history, so nested, more context-consistent, smaller groups).
    3. Within each group: A_k = (R_t - mean) / F, F = unbiased std + eps (std="group",
       the recipe's mean_std_norm) or 1 (std="none", mean_norm).
    4. Aggregation: A^H = sum_k w_k A_k / sum_k w_k with w_k = (k + 1)^alpha, the sum over
       the levels whose group has >= 2 rows (renormalised over those; 0 if none has).
       alpha = 0 is uniform; large alpha favours the most consistent level.
    5. base_group=True adds the episode-level advantage A^E (GRPO over the group's unique
       episodes) to that weighted average as one more member with weight 1 = (0 + 1)^alpha,
       as the recipe's `base_group` option does (valid when the group has >= 2 episodes).
    6. A = A^H + episode_weight * A^E (ours: with K = 0 and episode_weight = 1 this is
       exactly GiGPO, matching the paper's "K = 0 = GiGPO" ablation row; set
       episode_weight = 0 for the pure hierarchy).

    Shapes: rewards, action_mask (B, T); group_ids (B,); steps.context_ids (B, K + 1).
    Returns (advantages, returns = R_t broadcast), both (B, T), 0 off action tokens.
    """
    if steps.context_ids is None:
        raise ValueError("hgpo needs steps.context_ids (B, K + 1): the hashed last-k-steps "
                         "contexts of each row (see rlx.algos.step_advantages.context_ids)")
    step_rewards = sequence_scores(rewards, action_mask)
    layout = _layout(group_ids, steps)
    episode_adv, _ = _episode_advantage(step_rewards, layout, std, eps)
    step_returns = discounted_step_returns(step_rewards, layout.table, gamma)
    weighted = torch.zeros_like(step_returns)
    total = torch.zeros_like(step_returns)
    for k in range(steps.context_ids.shape[1]):
        advantage, size = _within(step_returns, group_ids, steps.context_ids[:, k], std, eps)
        weight = (k + 1.0) ** alpha * (size >= 2).to(step_returns.dtype)
        weighted, total = weighted + weight * advantage, total + weight
    if base_group:
        episodes = group_size(layout.groups, dtype=step_returns.dtype)[layout.episode]
        weight = (episodes >= 2).to(step_returns.dtype)
        weighted, total = weighted + weight * episode_adv, total + weight
    hierarchy = torch.where(total > 0, weighted / total.clamp(min=torch.finfo(total.dtype).tiny),
                            torch.zeros_like(total))
    advantage = hierarchy + episode_weight * episode_adv
    return broadcast_to_actions(advantage, action_mask), broadcast_to_actions(step_returns, action_mask)


hgpo.requires_steps = True


def empg(
    rewards: Tensor,
    action_mask: Tensor,
    group_ids: Tensor,
    values: Tensor | None = None,
    *,
    steps: StepInfo,
    std: StdChoice = "group",
    sharpness: float = 1.0,
    clarity_coef: float = 0.1,
    eps: float = 1e-6,
) -> tuple[Tensor, Tensor]:
    """Entropy-modulated step advantages after EMPG (Wang et al., "Harnessing Uncertainty:
    Entropy-Modulated Policy Gradients for Long-Horizon LLM Agents", arXiv 2509.09265).

    The paper's abstract says, in words: amplify confident correct steps, penalise confident
    errors, attenuate uncertain steps, and add a bonus for "future clarity". The formulas
    below are OUR documented design of that idea, not the paper's equations:

    1. Outcome: A^E = (R_i - mean_g R) / F over the group's unique episodes (GRPO on episode
       returns; F = unbiased std + eps for std="group", 1 for "none"). It gives the sign.
    2. Confidence: H = steps.entropy (mean token entropy of the step's action), min-max
       normalised over the batch's steps that have action tokens:
       h = (H - min H) / (max H - min H) in [0, 1]; h = 0 for all when all H are equal;
       a step without action tokens counts as fully uncertain (h = 1).
    3. Modulation: g(h) = exp(-sharpness * h) / mean_batch exp(-sharpness * h): positive,
       strictly decreasing in h for sharpness > 0, mean 1 over the batch's steps (the
       overall advantage scale is kept). Confident steps (g > 1) are amplified - rewarded if
       the episode did better than its group, penalised if worse - and uncertain steps
       (g < 1) are damped. sharpness = 0 turns the modulation off.
    4. Future clarity: b_t = clarity_coef * (1 - h_{t+1}), the confidence of the episode's
       next step (0 for its last step): a bonus for steps that lead to confident ones.
    A_t = g(h_t) * A^E + b_t on the row's action tokens.

    Returns (advantages, returns = episode return R broadcast), both (B, T), 0 off action
    tokens.
    """
    if steps.entropy is None:
        raise ValueError("empg needs steps.entropy (B,): the mean policy entropy over each "
                         "step's action tokens, recorded at rollout time")
    step_rewards = sequence_scores(rewards, action_mask)
    layout = _layout(group_ids, steps)
    episode_adv, episode_return = _episode_advantage(step_rewards, layout, std, eps)
    acting = action_mask.any(-1)
    h = _normalised_entropy(steps.entropy.to(step_rewards.dtype), acting)
    scale = torch.exp(-sharpness * h)
    mean_scale = scale[acting].mean() if bool(acting.any()) else scale.new_ones(())
    modulation = scale / mean_scale
    following = next_step_rows(layout.table)
    clarity = torch.where(following >= 0, 1.0 - h[following.clamp(min=0)], torch.zeros_like(h))
    advantage = modulation * episode_adv + clarity_coef * clarity
    return broadcast_to_actions(advantage, action_mask), broadcast_to_actions(episode_return, action_mask)


empg.requires_steps = True
empg.requires_entropy = True


def _normalised_entropy(entropy: Tensor, acting: Tensor) -> Tensor:
    """Min-max normalise over the acting rows to [0, 1]; non-acting rows get 1. (B,) -> (B,)."""
    if not bool(acting.any()):
        return torch.ones_like(entropy)
    low, high = entropy[acting].min(), entropy[acting].max()
    spread = high - low
    h = (entropy - low) / spread if float(spread) > 0 else torch.zeros_like(entropy)
    return torch.where(acting, h.clamp(0.0, 1.0), torch.ones_like(h))
