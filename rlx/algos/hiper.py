"""HiPER's Hierarchical Advantage Estimation (HAE) for plan-execute agents.

Peng et al., "HiPER: Hierarchical Reinforcement Learning with Explicit Credit Assignment for
Large Language Model Agents", arXiv 2602.16165 (abstract, project page and the authors'
reference code `hier_gae/core_hgae.py` and `example_scripts/HiPER_trainer/run_alfworld.sh` of
JonP07/HiPER-agent read; the stored copies of the arXiv HTML (2602.16165v1) and of the authors'
blog end after the abstract, so the paper's Section 4 equations were NOT read: the recursion
below follows the reference code's two-head path, paraphrased, and every open choice is marked
"ours").

Paper / reference vs rlx:
- segments, low-level GAE inside a segment bootstrapping to V_hi at the switch, segment-level
  GAE on the aggregated segment return with gamma^{d_k}: as the reference (tested literally).
- KEEP penalty: the reference adds `keep_penalty` to the reward of KEEP turns (its ALFWorld
  script: -0.3); rlx: `keep_penalty` (default 0.0 = off), added to each KEEP row's reward
  before both recursions. Our KEEP = a row with planner tokens that does not start a segment
  (the episode's first step always starts one, like the reference's skip_first option).
- the switch decision: the reference trains a third "termination" value head and gives the
  <switch> tokens of every turn its advantage; rlx has two heads (the paper's abstract and
  summaries say "two value heads") and credits the switch tokens as below (keep_credit).
- not built: the reference's keep_consistency_penalty (rewriting the subgoal on KEEP) and
  switch-rate floor; bootstrapping truncated episodes (its run script sets it; rlx ends them).

Per-step rows (see `rlx.algos.step_advantages`): each row is one policy step whose response
holds the planner's decision (`<switch>KEEP|SWITCH</switch>` and, on a switch, the new
`<subgoal>...</subgoal>`; `steps.planner_mask`) followed by the executor's think/action tokens
(action_mask & ~planner_mask). `steps.segment_ids` numbers the subgoal segments of an episode;
a segment starts at the episode's first step and at every switch.

One shared backbone, two value heads (`rlx.models.value_head.ValueHead(heads=2)`):
values[..., 0] = V_lo (executor head), values[..., 1] = V_hi (planner head). A row's V_hi is
read at its first action token (the state before the planner decides: the prompt), its V_lo at
its first executor token (the state after the subgoal is written, so V_lo is conditioned on
the subgoal); a row without executor tokens uses its first action token for both.

Low level (within each segment; steps t..e of one segment, gamma, lam_turn):
    delta_t = r_t + gamma * V_next - V_lo(t)
        V_next = V_lo(t+1) inside the segment, V_hi(next segment's start) at the segment's last
        step when the episode goes on (the SMDP boundary state), 0 at the episode's end
    A_lo(t) = delta_t + gamma * lam_turn * A_lo(t+1)   (the recursion stops at the segment end)
    return target of V_lo: A_lo + V_lo.
High level (across the segments k of an episode, segment k of d_k steps starting at s_k):
    R_k = sum_{j < d_k} gamma^j r_{s_k + j}            (the return aggregated over the segment)
    delta_k = R_k + gamma^{d_k} V_hi(s_{k+1}) - V_hi(s_k)   (V_hi(s_{K+1}) = 0 at the end)
    A_hi(k) = delta_k + gamma^{d_k} * lam_seg * A_hi(k+1)
    return target of V_hi (at segment starts only): A_hi + V_hi.
Token credit: executor tokens get A_lo of their step; the planner tokens of a segment's first
step (the switch decision and the subgoal written there) get A_hi of the segment; the planner
tokens of the other steps (a KEEP decision) get A_lo of their step with keep_credit="executor"
(ours: the reference gives them a third "termination" head's advantage, which the paper's
two-head design does not have; keeping is then judged by how the continued execution does)
or nothing with keep_credit="none".
normalize=True whitens A_lo over the rows with executor tokens and A_hi over the segment-start
rows with planner tokens, each over the batch (the reference's run scripts set norm_adv=True).
Truncated episodes end like terminated ones (no bootstrap), as rlx's `gae` does (ours; the
reference offers a bootstrap option).

Reductions (tested): one segment per episode -> executor tokens get exactly turn-level GAE with
V_lo (lam_turn) and the planner tokens of step 0 get R - V_hi(s_0) (the discounted episode
return minus the planner head's baseline); V_lo = V_hi = the true returns of deterministic
episodes -> every advantage is 0.

Shapes: rewards, action_mask (B, T); group_ids (B,); values (B, T, 2); steps per StepInfo.
Returns (advantages (B, T), returns (B, T, 2): the value targets, 0 off each head's tokens);
`value_mask(...)` gives the tokens each head is trained on.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from rlx.algos.episodes import pair_index, step_table
from rlx.algos.returns import sequence_scores
from rlx.algos.step_advantages import StepInfo

KeepCredit = Literal["executor", "none"]


def first_token_values(values: Tensor, tokens: Tensor) -> Tensor:
    """values (B, T) at each row's first True token of `tokens` (B, T); 0 for an empty row."""
    tokens = tokens.bool()
    first = tokens.to(torch.int8).argmax(-1)
    picked = values.gather(-1, first[:, None]).squeeze(-1)
    return torch.where(tokens.any(-1), picked, torch.zeros_like(picked))


def executor_tokens(action_mask: Tensor, planner_mask: Tensor | None) -> Tensor:
    """action_mask & ~planner_mask (all action tokens without a planner mask). (B, T) bool."""
    acting = action_mask.bool()
    return acting if planner_mask is None else acting & ~planner_mask.bool()


def segment_starts(group_ids: Tensor, steps: StepInfo) -> Tensor:
    """(B,) bool: the row is the first step of its episode or its segment id differs from the
    previous recorded step's (a switch point)."""
    if steps.segment_ids is None:
        raise ValueError("hiper needs steps.segment_ids: the subgoal segment of each step")
    episode, n = pair_index(group_ids, steps.episode_ids)
    table = step_table(episode, steps.step_ids, n)
    start = torch.zeros(group_ids.shape[0], dtype=torch.bool, device=group_ids.device)
    previous = torch.full((n,), -1, dtype=torch.long, device=group_ids.device)
    seen = torch.zeros(n, dtype=torch.bool, device=group_ids.device)
    for s in range(table.shape[1]):
        rows = table[:, s]
        here = rows >= 0
        segment = steps.segment_ids[rows.clamp(min=0)].long()
        start[rows[here]] = (~seen | (segment != previous))[here]
        previous = torch.where(here, segment, previous)
        seen |= here
    return start


def value_mask(action_mask: Tensor, group_ids: Tensor, steps: StepInfo) -> Tensor:
    """(B, T, 2) bool: head 0 (V_lo) is trained on executor tokens, head 1 (V_hi) on the planner
    tokens of segment-start rows (their first action token when the row has no planner mask)."""
    return _head_tokens(action_mask.bool(), steps.planner_mask, segment_starts(group_ids, steps))


def _head_tokens(acting: Tensor, planner_mask: Tensor | None, start: Tensor) -> Tensor:
    execute = executor_tokens(acting, planner_mask)
    plan = acting if planner_mask is None else planner_mask.bool() & acting
    return torch.stack([execute, plan & start[:, None]], dim=-1)


def _whiten(x: Tensor, rows: Tensor, eps: float) -> Tensor:
    """(x - mean) / (std + eps) over the rows where `rows`; other rows are returned as they are."""
    if int(rows.sum()) < 2:
        return torch.where(rows, x - x[rows].mean(), x) if bool(rows.any()) else x
    picked = x[rows]
    return torch.where(rows, (x - picked.mean()) / (picked.std() + eps), x)


def hiper(
    rewards: Tensor,
    action_mask: Tensor,
    group_ids: Tensor,
    values: Tensor | None = None,
    *,
    steps: StepInfo,
    gamma: float = 1.0,
    lam_turn: float = 1.0,
    lam_seg: float = 0.95,
    keep_credit: KeepCredit = "executor",
    keep_penalty: float = 0.0,
    normalize: bool = True,
    eps: float = 1e-8,
) -> tuple[Tensor, Tensor]:
    """Hierarchical Advantage Estimation (HiPER, arXiv 2602.16165); see the module docstring.

    Defaults: gamma 1.0, lam_turn 1.0 (verl's algorithm.gamma / lam defaults the reference
    runs with), lam_seg 0.95 (the reference's hgae.lam_seg), normalize True (its run scripts).
    keep_penalty: added to the reward of every KEEP step (a row with planner tokens that does
    not start a segment) before both recursions; 0.0 (default) leaves rewards as they are, the
    reference's ALFWorld script uses -0.3 (its hae.keep_penalty, "fixed" mode).
    """
    if values is None or values.dim() != 3 or values.shape[-1] != 2:
        raise ValueError("hiper needs values (B, T, 2) from a two-head value head "
                         "(executor head 0, planner head 1)")
    dtype = rewards.dtype
    acting = action_mask.bool()
    execute = executor_tokens(acting, steps.planner_mask)
    plan = acting & ~execute
    r = sequence_scores(rewards, action_mask)
    values = values.detach().to(dtype)
    v_hi = first_token_values(values[..., 1], acting)
    v_lo = torch.where(execute.any(-1), first_token_values(values[..., 0], execute),
                       first_token_values(values[..., 0], acting))
    start = segment_starts(group_ids, steps)
    if keep_penalty != 0.0:
        r = r + keep_penalty * (plan.any(-1) & ~start).to(dtype)
    episode, n = pair_index(group_ids, steps.episode_ids)
    table = step_table(episode, steps.step_ids, n)

    a_lo, a_hi = torch.zeros_like(r), torch.zeros_like(r)
    zero = r.new_zeros(n)
    has_next = torch.zeros(n, dtype=torch.bool, device=r.device)
    next_start = torch.zeros_like(has_next)
    next_v_lo, next_v_hi, next_a_lo, next_a_hi = zero, zero, zero, zero
    next_g, next_len = zero, zero               # within-segment return / steps from the next row on
    follow_v, follow_a = zero, zero             # V_hi and A_hi of the segment after the next row's
    for s in reversed(range(table.shape[1])):
        rows = table[:, s]
        here = rows >= 0
        i = rows.clamp(min=0)
        same = has_next & ~next_start           # the next step continues this segment
        boundary = has_next & next_start        # the next step starts a new segment
        v_next = torch.where(same, next_v_lo, torch.where(boundary, next_v_hi, zero))
        lo = r[i] + gamma * v_next - v_lo[i] + gamma * lam_turn * torch.where(same, next_a_lo, zero)
        g = r[i] + gamma * torch.where(same, next_g, zero)
        length = 1.0 + torch.where(same, next_len, zero)
        seg_v = torch.where(same, follow_v, torch.where(boundary, next_v_hi, zero))
        seg_a = torch.where(same, follow_a, torch.where(boundary, next_a_hi, zero))
        discount = gamma ** length
        hi = g + discount * seg_v - v_hi[i] + discount * lam_seg * seg_a
        a_lo[rows[here]] = lo[here]
        a_hi[rows[here]] = hi[here]
        update = here

        def keep(new: Tensor, old: Tensor) -> Tensor:
            return torch.where(update, new, old)

        follow_v, follow_a = keep(seg_v, follow_v), keep(seg_a, follow_a)
        next_v_lo, next_v_hi = keep(v_lo[i], next_v_lo), keep(v_hi[i], next_v_hi)
        next_a_lo, next_a_hi = keep(lo, next_a_lo), keep(hi, next_a_hi)
        next_g, next_len = keep(g, next_g), keep(length, next_len)
        next_start = keep(start[i], next_start)
        has_next = has_next | here

    ret_lo, ret_hi = a_lo + v_lo, a_hi + v_hi
    if normalize:
        a_lo = _whiten(a_lo, execute.any(-1), eps)
        a_hi = _whiten(a_hi, start & plan.any(-1), eps)
    row_hi = torch.where(start, a_hi, a_lo if keep_credit == "executor" else torch.zeros_like(a_lo))
    advantages = a_lo[:, None] * execute.to(dtype) + row_hi[:, None] * plan.to(dtype)
    heads = _head_tokens(acting, steps.planner_mask, start).to(dtype)
    returns = torch.stack([ret_lo[:, None] * heads[..., 0], ret_hi[:, None] * heads[..., 1]], -1)
    return advantages, returns


hiper.requires_steps = True
hiper.requires_agent_mode = "hiper"
hiper.requires_values = True
hiper.value_heads = 2
