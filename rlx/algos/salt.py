"""SALT: step-level advantages from a trajectory graph, on top of any outcome estimator.

Li, Wang, Yan, Tian, Xu, Song, Xu, Cheong, "SALT: Step-level Advantage Assignment for
Long-horizon Agents via Trajectory Graph" (arXiv 2510.20022; Findings of EACL 2026).

What we read: the paper's abstract and the first page of its arXiv HTML (the trajectories of
one prompt are merged into a graph; each step's quality is quantified from it and advantages
assigned accordingly, derived from outcome rewards only; plug-and-play on group-based
estimators such as GRPO and RLOO; no change to the rollout; negligible overhead; WebShop,
ALFWorld, AppWorld), two summaries of it (shared steps act as neutral, distinct steps as
decisive; used with RLOO and GRPO), and the description of its mechanism in a later paper
(GRAFT, appendix A.3): SALT computes the trajectory-level advantages with the base
estimator, puts the identical transitions (s, a, s') of the group's trajectories into one
group, and gives every step of that group the group's average of the inherited advantages
(so it cannot change the advantage of a transition seen only once).
The method section itself was not available to us (a second search of the pages and code
corpora returned only the abstract, the arXiv HTML's first page and third-party overviews,
no section or equation numbers and no public code); the choices below are ours where marked.

Per-step rows as in `rlx.algos.step_advantages` (one row per policy step; `steps: StepInfo`
gives episode ids, step ids and the anchor-state ids of the step's current observation).

1. Inherited advantage a_r of each row r: the base estimator's. An episode-level base (GRPO,
   RLOO, Dr. GRPO, REINFORCE++...) runs on episode returns (`episode_level`), so a_r = A^E of
   the row's episode; a base that itself needs `steps` (GiGPO, HGPO, EMPG) is called with
   them and a_r is its per-row value. Value-based bases (GAE) are refused.
2. The graph: nodes are the anchor states of the group (rows of one group with equal
   `anchor_ids` are one node, from whichever episode); the edge of row r is
   (s_r -> s_next), s_next = the anchor of the next recorded step of r's episode. Our
   choice: the edge is keyed by (state, next state), not by the action text. The
   environments here are deterministic, so s_next follows from (s, a) and (s, s_next)
   identifies the transition (s, a, s') the paper groups; actions with the same effect
   (e.g. two spellings of one command, or any two invalid commands that leave "Nothing
   happens.") merge, which is what a state graph means; and the action text carries the
   model's free-form reasoning, which would make nearly every action unique.
   An episode's last step has no next observation: its edge ends in a terminal node keyed
   by the step's own reward (our choice: a sink per immediate outcome, so a winning and a
   losing last move from the same state are different edges).
3. Edge score: the mean of the inherited advantages of the trajectories that pass through
   the edge, each trajectory counted once (our choice: a trajectory that loops through an
   edge twice contributes the mean of its own values there, so looping does not buy weight).
   Rows without action tokens (episodes cut by a crashed worker) take no part.
4. A_r = a_r + graph_weight * (score(edge_r) - a_r): graph_weight = 1 (default) is SALT as
   described (each step gets its edge's score); 0 is the base estimator (graph_weight is
   ours, a knob for ablations between the two).

Reductions (tested): no shared edges (e.g. every state distinct) -> every edge holds one
trajectory and A = the base estimator's own advantage, for an episode-level base exactly
`episode_level(..., estimator=base)` (what `advantage=<base>` trains on multi-turn rows);
all trajectories identical -> with GRPO (or any base giving 0 to a group of equal returns)
A = 0; a shared prefix of a success and a failure -> the shared steps get their average
(0 for GRPO: neutral) and the diverging steps keep their trajectory's advantage (decisive).

Cost: the base estimator plus a few 1-D sorts (`torch.unique`) and scatter-adds over the
B rows; the only Python loop runs over step positions (finding each row's next step), none
over rows or edges (`benchmarks/agent_estimators.py` measures it).

Shapes: rewards, action_mask (B, T); group_ids (B,); steps (B,) per field.
Returns (advantages, returns), both (B, T), exactly 0 off action tokens; `returns` is the
base estimator's.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rlx.algos.advantages import AdvantageFn, needs_values
from rlx.algos.episodes import next_step_rows, pair_index, step_table
from rlx.algos.returns import broadcast_to_actions, sequence_scores
from rlx.algos.step_advantages import StepInfo, episode_level, needs_steps


def salt(
    rewards: Tensor,
    action_mask: Tensor,
    group_ids: Tensor,
    values: Tensor | None = None,
    *,
    steps: StepInfo,
    base: AdvantageFn,
    graph_weight: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """SALT on per-step rows: the base estimator's advantages averaged over each transition
    edge of the group's trajectory graph (see the module docstring for the exact rules).

    base: the outcome estimator, a bound estimator function (`advantage.base`, itself an
        advantage config such as grpo, rloo or dr_grpo).
    graph_weight: A = a + graph_weight * (edge score - a); 1 = SALT, 0 = the base.
    """
    if not callable(base):
        raise TypeError(f"salt: base must be an advantage estimator, got {base!r}; choose it "
                        "with advantage@advantage.base=<choice> (e.g. rloo)")
    if needs_values(base):
        raise ValueError("salt: the base estimator must be critic-free (grpo, rloo, ...), "
                         "not a value-based one (gae)")
    if needs_steps(base):
        inherited, returns = base(rewards, action_mask, group_ids, values, steps=steps)
    else:
        inherited, returns = episode_level(rewards, action_mask, group_ids, steps=steps,
                                           estimator=base)
    weight = action_mask.to(inherited.dtype)
    count = weight.sum(-1)
    acting = count > 0
    per_row = (inherited * weight).sum(-1) / count.clamp(min=1)
    episode, _ = pair_index(group_ids, steps.episode_ids)
    edge = transition_ids(group_ids, episode, steps, sequence_scores(rewards, action_mask))
    score = edge_scores(per_row, edge, episode, acting)
    advantage = per_row + graph_weight * (score - per_row)
    return broadcast_to_actions(advantage, action_mask), returns


salt.requires_steps = True


def transition_ids(group_ids: Tensor, episode: Tensor, steps: StepInfo,
                   step_rewards: Tensor) -> Tensor:
    """Dense id of each row's edge (group, s, s_next) in the trajectory graph. -> (B,) long.

    episode: (B,) dense episode index of each row (`pair_index(group_ids, episode_ids)`).
    s = the row's anchor id; s_next = the anchor id of the episode's next recorded step, or,
    for the last step, a terminal node keyed by the step's reward (its float64 bit pattern,
    in a column of its own so it can never equal an anchor id).
    """
    n_episodes = int(episode.max().item()) + 1 if episode.numel() else 0
    following = next_step_rows(step_table(episode, steps.step_ids, n_episodes))
    terminal = following < 0
    next_anchor = steps.anchor_ids[following.clamp(min=0)]
    outcome = (step_rewards.detach().to(torch.float64) + 0.0).view(torch.int64)  # -0.0 -> 0.0
    next_key = torch.where(terminal, outcome, next_anchor.long())
    state, _ = pair_index(group_ids, steps.anchor_ids)  # the graph's node of each row
    target, _ = pair_index(terminal.long(), next_key)   # its next node (or terminal outcome)
    return pair_index(state, target)[0]


def edge_scores(per_row: Tensor, edge: Tensor, episode: Tensor, acting: Tensor) -> Tensor:
    """Each row's edge score: the mean, over the distinct trajectories through the edge, of
    the trajectory's (mean) inherited advantage there. Rows with acting=False do not count;
    an edge without acting rows scores 0. (B,) each -> (B,)."""
    if per_row.numel() == 0:
        return per_row.clone()
    cell, n_cells = pair_index(edge, episode)  # one cell = one trajectory on one edge
    w = acting.to(per_row.dtype)
    cell_sum = per_row.new_zeros(n_cells).index_add_(0, cell, per_row * w)
    cell_n = per_row.new_zeros(n_cells).index_add_(0, cell, w)
    cell_mean = cell_sum / cell_n.clamp(min=1)
    cell_edge = edge.new_zeros(n_cells).scatter_(0, cell, edge)
    cell_used = (cell_n > 0).to(per_row.dtype)
    n_edges = int(edge.max().item()) + 1
    edge_sum = per_row.new_zeros(n_edges).index_add_(0, cell_edge, cell_mean * cell_used)
    edge_n = per_row.new_zeros(n_edges).index_add_(0, cell_edge, cell_used)
    return (edge_sum / edge_n.clamp(min=1))[edge]
