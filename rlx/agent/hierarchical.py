"""Hierarchical agents on per-step rows: HiPER's plan-execute steps and HiMAC's blueprints.

`agent=hierarchical` plays the same EnvPool episodes as the flat agent (`rlx.agent.rollout`), one
batch row per policy step, and adds the planner's structure to the batch:

mode=hiper (Peng et al., arXiv 2602.16165): at every step one response holds the planner's
    decision (<switch>KEEP|SWITCH</switch>, the new <subgoal> on a switch) and then the
    executor's think/action. The planner's tokens are `planner_mask` (B, T), a subset of the
    action mask; `segment_ids` (B,) numbers the subgoal segments of each episode (a segment
    starts at the first step and at each switch; a KEEP before any subgoal exists still starts
    the first segment). On KEEP the current subgoal stays whatever subgoal text was written
    (ours; the reference penalises a changed subgoal on KEEP in its reward instead).
mode=himac (Jin et al., arXiv 2603.00977): before the first step, K = G / N blueprints are
    written per task (N = executions_per_blueprint) and each is executed by N episodes. The
    blueprint is one extra row of the first of its episodes (step id 0, reward 0, all its
    action tokens planner tokens); execution steps carry the blueprint in their prompt and
    have step ids 1, 2, ... (so they do not collide with the blueprint row); `blueprint_ids`
    (B,) names each row's blueprint within its group. A blueprint is written once (ours: the
    abstract allows revising it; revision is not implemented).

Metrics: rollout/subgoal_switches_per_episode (switches after the first step),
rollout/segment_length (steps per segment), rollout/planner_token_frac, and for himac
rollout/blueprint_valid_ratio; the env/ metrics count execution steps only. Only
`sample_mode=step` is supported.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from rlx.agent.hierarchical_prompt import (blueprint_messages, blueprint_step_messages,
                                           parse_blueprint, parse_plan_execute,
                                           plan_execute_messages, planner_token_mask)
from rlx.agent.rollout import (AgentSettings, StepRow, episodes_won, errored_episodes,
                               rollout_stats)
from rlx.algos.step_advantages import state_id
from rlx.envs.base import Score, Task
from rlx.envs.text_env import Step
from rlx.rollout.batch import RolloutBatch, encode_prompt, pack_sequences
from rlx.utils.seeding import derive_seed


@dataclass(frozen=True)
class HierarchicalSettings(AgentSettings):
    """`AgentSettings` plus the hierarchy (conf/agent/hierarchical.yaml).

    mode: hiper (keep-or-switch subgoal every step) | himac (a blueprint, then execution).
    executions_per_blueprint: HiMAC's N, episodes that execute one blueprint; the group size
        must be a multiple of it (G / N blueprints per task); a group smaller than N (e.g.
        one evaluation sample) executes one blueprint.
    """

    mode: Literal["hiper", "himac"] = "hiper"
    executions_per_blueprint: int = 2

    def __post_init__(self) -> None:
        if self.sample_mode != "step":
            raise ValueError("agent=hierarchical trains one row per policy step: set "
                             "agent.sample_mode=step")
        if self.executions_per_blueprint < 1:
            raise ValueError("agent.executions_per_blueprint must be >= 1 "
                             f"(got {self.executions_per_blueprint})")

    def player(self):
        return play_hierarchical


@dataclass
class _Plan:
    """The hierarchy facts of one StepRow."""

    planner: list[bool]  # per response token: planner token
    segment: int
    blueprint: int
    switched: bool = False
    execution: bool = True  # False for a HiMAC blueprint row


def play_hierarchical(engine, tokenizer, pool, tasks: Sequence[Task], group_size: int, *, seed: int,
                      settings: HierarchicalSettings) -> RolloutBatch:
    """Play `group_size` episodes of each task with the hierarchical agent and batch their steps."""
    episodes = [t for t in tasks for _ in range(group_size)]
    n = min(settings.executions_per_blueprint, group_size)  # evaluation may sample fewer
    if settings.mode == "himac" and group_size % n:
        raise ValueError(f"agent.mode=himac: trainer.group_size ({group_size}) must be a multiple "
                         f"of agent.executions_per_blueprint ({n})")
    started = time.perf_counter()
    observations = pool.reset([(t, derive_seed(seed, "reset", t.uid)) for t in episodes])
    env_time = time.perf_counter() - started
    generation_stats: dict[str, float] = defaultdict(float)
    rows: list[StepRow] = []
    plans: list[_Plan] = []

    def generate(prompts: list[list[int]], stream: str, turn: int):
        generations = engine.generate(prompts, seed=derive_seed(seed, stream, turn))
        for name, value in engine.last_stats.metrics().items():
            generation_stats[name] += value
        texts = tokenizer.batch_decode([g.response_ids for g in generations], skip_special_tokens=True)
        return generations, texts

    blueprint = [""] * len(episodes)
    offset = 0
    if settings.mode == "himac":
        offset = 1
        writers = [e for e in range(len(episodes)) if e % n == 0]
        generations, texts = generate([encode_prompt(tokenizer, blueprint_messages(
            role=settings.role, instruction=episodes[e].prompt, observation=observations[e]))
            for e in writers], "blueprint", 0)
        for e, g, text in zip(writers, generations, texts):
            plan, valid = parse_blueprint(text)
            blueprint[e: e + n] = [plan] * n
            state = (observations[e].state_key or observations[e].text) + "\x1eblueprint"
            rows.append(StepRow(e, 0, g, text, "", valid, Step(observations[e], 0.0, False), state))
            plans.append(_Plan([True] * len(g.response_ids), 0, (e % group_size) // n,
                               execution=False))

    history: list[list[tuple[str, str]]] = [[] for _ in episodes]
    subgoal, segment = [""] * len(episodes), [-1] * len(episodes)
    done = [False] * len(episodes)
    for turn in range(settings.max_steps):
        active = [e for e in range(len(episodes)) if not done[e]]
        if not active:
            break
        common = lambda e: dict(role=settings.role, instruction=episodes[e].prompt,  # noqa: E731
                                observation=observations[e], history=history[e], step_index=turn,
                                history_length=settings.history_length,
                                require_think=settings.require_think)
        if settings.mode == "hiper":
            messages = [plan_execute_messages(**common(e), subgoal=subgoal[e]) for e in active]
        else:
            messages = [blueprint_step_messages(**common(e), blueprint=blueprint[e]) for e in active]
        generations, texts = generate([encode_prompt(tokenizer, m) for m in messages], "turn", turn)
        decisions = [parse_plan_execute(t, settings.require_think) for t in texts]
        started = time.perf_counter()
        results = pool.step([d.action.action for d in decisions], episode_ids=active)
        env_time += time.perf_counter() - started
        for e, g, text, d, step in zip(active, generations, texts, decisions, results):
            state = observations[e].state_key or observations[e].text
            if settings.mode == "hiper":
                switched = segment[e] < 0 or bool(d.switch)
                if switched:
                    segment[e] += 1
                if d.subgoal:
                    subgoal[e] = d.subgoal
                valid = d.valid
                plan = _Plan(planner_token_mask(tokenizer, g.response_ids), segment[e], 0,
                             switched=switched and turn > 0)
            else:
                valid = d.action.valid
                plan = _Plan([False] * len(g.response_ids), 0, (e % group_size) // n)
            rows.append(StepRow(e, turn + offset, g, text, d.action.action, valid, step, state))
            plans.append(plan)
            history[e].append((observations[e].text, d.action.action))
            observations[e] = step.observation
            done[e] = step.terminated or step.truncated
    batch = _batch(rows, plans, episodes, group_size, tokenizer, generation_stats, env_time)
    batch.stats.update(pool.stats())
    return batch


def _batch(rows: list[StepRow], plans: list[_Plan], episodes: list[Task], group_size: int,
           tokenizer, generation_stats: dict, env_time: float) -> RolloutBatch:
    """One row per StepRow (blueprint rows included) with the hierarchy's tensors."""
    input_ids, attention_mask, action_mask = pack_sequences([r.generation for r in rows],
                                                            tokenizer.pad_token_id)
    planner_mask = torch.zeros_like(action_mask)
    for i, (r, p) in enumerate(zip(rows, plans)):
        start = len(r.generation.prompt_ids)
        planner_mask[i, start: start + len(p.planner)] = torch.tensor(p.planner, dtype=torch.bool)
    errored = errored_episodes(rows)
    for i, r in enumerate(rows):
        if r.episode in errored:
            action_mask[i] = False
    planner_mask &= action_mask
    won = episodes_won(rows, len(episodes))
    executed = [r for r, p in zip(rows, plans) if p.execution]
    stats = rollout_stats(executed, episodes, won, generation_stats, env_time)
    stats.update(hierarchy_metrics(rows, plans, len(episodes), action_mask, planner_mask))
    return RolloutBatch(
        tasks=[episodes[r.episode] for r in rows],
        group_ids=torch.tensor([r.episode // group_size for r in rows], dtype=torch.long),
        input_ids=input_ids, attention_mask=attention_mask, action_mask=action_mask,
        completions=[r.text for r in rows],
        scores=[Score(reward=r.result.reward, correct=won[r.episode], format_ok=r.format_ok,
                      parsed=r.text) for r in rows],
        finished=[r.generation.finished for r in rows],
        seq_rewards=torch.tensor([r.result.reward for r in rows], dtype=torch.float32),
        episode_ids=torch.tensor([r.episode for r in rows], dtype=torch.long),
        step_ids=torch.tensor([r.step for r in rows], dtype=torch.long),
        anchor_ids=torch.tensor([state_id(r.state_key) for r in rows], dtype=torch.long),
        episode_tasks=list(episodes), episode_won=won, stats=stats,
        action_admitted=torch.tensor([r.result.action_valid for r in rows], dtype=torch.bool),
        planner_mask=planner_mask,
        segment_ids=torch.tensor([p.segment for p in plans], dtype=torch.long),
        blueprint_ids=torch.tensor([p.blueprint for p in plans], dtype=torch.long),
    )


def hierarchy_metrics(rows: Sequence[StepRow], plans: Sequence[_Plan], num_episodes: int,
                      action_mask: torch.Tensor, planner_mask: torch.Tensor) -> dict[str, float]:
    """Switches per episode, steps per segment, the planner's share of the action tokens and,
    with blueprints, the share of well-formed ones."""
    segments, steps = set(), 0
    switches = 0
    for r, p in zip(rows, plans):
        if p.execution:
            segments.add((r.episode, p.segment))
            steps += 1
            switches += p.switched
    metrics = {
        "rollout/subgoal_switches_per_episode": switches / max(num_episodes, 1),
        "rollout/segment_length": steps / max(len(segments), 1),
        "rollout/planner_token_frac": planner_mask.sum().item() / max(action_mask.sum().item(), 1),
    }
    blueprints = [r.format_ok for r, p in zip(rows, plans) if not p.execution]
    if blueprints:
        metrics["rollout/blueprint_valid_ratio"] = sum(blueprints) / len(blueprints)
    return metrics
