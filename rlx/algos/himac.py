"""HiMAC's critic-free hierarchical group-relative advantages and co-evolution schedule.

Jin et al., "HiMAC: Hierarchical Macro-Micro Learning for Long-Horizon LLM Agents", arXiv
2603.00977 (only the abstract and third-party summaries could be read here: a macro-level
blueprint, goal-conditioned micro-level execution, "hierarchical relative advantage
estimation" that extends group-based RL to the two levels, and an "iterative co-evolution"
that alternates planner exploration and executor adaptation). The formulas below are OUR
documented reading of those words, not the paper's equations. A second search (pages, code
and docs corpora: the title, "hierarchical relative advantage", "co-evolution", the arXiv id)
found only the abstract and summaries again (gist.science, newx.sg, arxivlens: "carefully
tuned group sizes"); no method section, equation numbers, phase lengths or blueprint revision
rule, and no public code. So no section or equation can be cited and blueprint revision is
not built (a blueprint is written once per group of executions).

Data (`agent=hierarchical agent.mode=himac`): a group holds the G episodes of one task; they
execute K = G / N blueprints, N episodes per blueprint (`agent.executions_per_blueprint`).
Each blueprint is one row of its first episode whose action tokens are all planner tokens
(`steps.planner_mask`); the executions' step rows carry the blueprint in their prompt and only
executor tokens. `steps.blueprint_ids` (B,) names each row's blueprint within its group.

Returns: R_e = sum of episode e's execution-step rewards (a row with planner tokens is a
blueprint row; its own reward, e.g. a format penalty, belongs to the blueprint, not to the
episode that happens to hold the row).
Blueprint level: S_b = mean of R_e over the N executions of blueprint b + the blueprint row's
reward;
    A^plan_b = (S_b - mean over the group's blueprints of S) / F   (F = unbiased std + eps, or 1)
Execution level: A^exec_e = (R_e - S_b) / F_b over the executions of e's blueprint.
Planner tokens get A^plan of their blueprint, executor tokens A^exec of their episode. A group
with one blueprint gets A^plan = 0; a blueprint executed once gets A^exec = 0; all-equal
returns give 0 everywhere (never NaN).

Co-evolution schedule (`schedule`): "joint" trains both levels every iteration; "alternate"
cycles `planner_iters` iterations of planner exploration (only planner tokens get an
advantage; executor tokens get 0, so no policy-gradient signal) and then `executor_iters`
iterations of executor adaptation (only executor tokens), starting with the planner at
iteration 0 (ours: the abstract names the planner first; the phase lengths are not given
there). The masking zeroes advantages; a KL term (loss.kl_coef) still regularises the frozen
level's tokens and they still count in a token-mean's denominator.

Shapes: rewards, action_mask (B, T); group_ids (B,); steps per StepInfo.
Returns (advantages, returns = R_e broadcast, S_b on blueprint rows), both (B, T), 0 off action
tokens.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from rlx.algos.episodes import episode_groups, episode_totals, pair_index
from rlx.algos.hiper import executor_tokens
from rlx.algos.normalize import normalize
from rlx.algos.returns import broadcast_to_actions, sequence_scores
from rlx.algos.step_advantages import StepInfo

Schedule = Literal["joint", "alternate"]
Phase = Literal["both", "planner", "executor"]


def phase(iteration: int, schedule: Schedule, planner_iters: int, executor_iters: int) -> Phase:
    """Which level trains at `iteration` (0-based): both, or the planner for `planner_iters`
    iterations and then the executor for `executor_iters`, repeating."""
    if schedule == "joint":
        return "both"
    if planner_iters < 1 or executor_iters < 1:
        raise ValueError("himac: planner_iters and executor_iters must be >= 1 with "
                         f"schedule=alternate (got {planner_iters}, {executor_iters})")
    return "planner" if iteration % (planner_iters + executor_iters) < planner_iters else "executor"


def himac(
    rewards: Tensor,
    action_mask: Tensor,
    group_ids: Tensor,
    values: Tensor | None = None,
    *,
    steps: StepInfo,
    std: Literal["group", "none"] = "group",
    schedule: Schedule = "alternate",
    planner_iters: int = 5,
    executor_iters: int = 5,
    eps: float = 1e-6,
) -> tuple[Tensor, Tensor]:
    """Hierarchical group-relative advantages (HiMAC, arXiv 2603.00977); see the module docstring."""
    if steps.blueprint_ids is None or steps.planner_mask is None:
        raise ValueError("himac needs steps.blueprint_ids and steps.planner_mask: play with "
                         "agent=hierarchical agent.mode=himac")
    step_rewards = sequence_scores(rewards, action_mask)
    acting = action_mask.bool()
    execute = executor_tokens(acting, steps.planner_mask)
    plan = acting & ~execute
    blueprint_row = plan.any(-1)
    episode, n = pair_index(group_ids, steps.episode_ids)
    totals = episode_totals(torch.where(blueprint_row, 0.0, step_rewards), episode, n)   # (E,) R_e
    groups = episode_groups(episode, group_ids, n)                          # (E,)
    blueprint_of = torch.zeros(n, dtype=torch.long, device=totals.device)
    blueprint_of.scatter_(0, episode, steps.blueprint_ids.long())           # rows of an episode agree
    blueprint, k = pair_index(groups, blueprint_of)                         # (E,) dense blueprint index
    count = totals.new_zeros(k).index_add_(0, blueprint, torch.ones_like(totals))
    row_blueprint = blueprint[episode]                                      # (B,)
    own = totals.new_zeros(k).index_add_(0, row_blueprint,
                                         torch.where(blueprint_row, step_rewards, 0.0))
    score = totals.new_zeros(k).index_add_(0, blueprint, totals) / count + own   # S_b
    blueprint_group = groups.new_zeros(k).scatter_(0, blueprint, groups)
    plan_adv = normalize(score, None, blueprint_group, mean="group", std=std, eps=eps)   # (K,)
    exec_adv = normalize(totals, None, blueprint, mean="group", std=std, eps=eps)        # (E,)

    level = phase(steps.iteration, schedule, planner_iters, executor_iters)
    dtype = step_rewards.dtype
    row_plan = plan_adv[row_blueprint] * float(level != "executor")
    row_exec = exec_adv[episode] * float(level != "planner")
    advantages = row_plan[:, None] * plan.to(dtype) + row_exec[:, None] * execute.to(dtype)
    row_return = torch.where(blueprint_row, score[row_blueprint], totals[episode])
    return advantages, broadcast_to_actions(row_return, action_mask)


himac.requires_steps = True
himac.requires_agent_mode = "himac"
