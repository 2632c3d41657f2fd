"""The training loop: sample -> roll out -> score and shape -> advantages -> update -> log -> checkpoint."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from rlx.algos.advantages import needs_values
from rlx.algos.step_advantages import StepInfo, episode_level, needs_steps
from rlx.envs.base import Task
from rlx.train.checkpoint import save_checkpoint
from rlx.train.evaluate import evaluate
from rlx.train.rollout import RolloutBatch, rollout_metrics, token_rewards
from rlx.train.settings import TrainerSettings
from rlx.train.update import TrainBatch, ppo_update, score_tokens
from rlx.utils.seeding import derive_seed, rng_state


@dataclass
class Run:
    """Everything a training run is made of, built by `rlx.train.recipe` from the config."""

    model: nn.Module
    tokenizer: Any
    reference: nn.Module | None
    value_head: nn.Module | None
    engine: Any
    collect: Callable[..., RolloutBatch]  # collect(tasks, group_size, seed=) -> RolloutBatch
    eval_tasks: Sequence[Task]
    curriculum: Any
    advantage_fn: Callable
    objective: Any
    shaping: Mapping[str, Callable]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loggers: Sequence[Any]
    settings: TrainerSettings
    device: torch.device
    autocast: Callable[[], AbstractContextManager]
    seed: int
    iterations: int
    run_dir: Path
    start_iteration: int = 0
    extra_state: dict[str, Any] = field(default_factory=dict)


def train(run: Run) -> dict[str, float]:
    """Train from `run.start_iteration` to `run.iterations`; return the last metrics."""
    s, metrics = run.settings, {}
    bar = tqdm(range(run.start_iteration, run.iterations), desc="rlx", unit="it",
               initial=run.start_iteration, total=run.iterations, dynamic_ncols=True)
    for it in bar:
        start = time.perf_counter()
        tasks = run.curriculum.sample(s.tasks_per_iter)
        with run.autocast():
            batch = run.collect(tasks, s.group_size, seed=derive_seed(run.seed, "rollout", it))
        shaping_stats = shape_rewards(batch, run.shaping)
        with run.autocast():
            train_batch, adv_stats = prepare_update(run, batch)
        t_update = time.perf_counter()
        update_stats = ppo_update(
            run.model, run.value_head, run.optimizer, run.objective, train_batch,
            epochs=s.ppo_epochs, minibatches=s.minibatches, micro_batch_size=s.micro_batch_size,
            max_grad_norm=s.max_grad_norm, chunk_size=s.logprob_chunk_size,
            temperature=logprob_temperature(run.engine), device=run.device, autocast=run.autocast,
            generator=torch.Generator().manual_seed(derive_seed(run.seed, "minibatch", it)))
        t_update = time.perf_counter() - t_update
        run.scheduler.step()
        metrics = {
            **rollout_metrics(batch, s.group_size), **shaping_stats, **adv_stats, **update_stats,
            **run.curriculum.update(tasks, batch.scores), **batch.stats,
            **perf_metrics(batch, s.ppo_epochs, t_update, time.perf_counter() - start),
            "policy/lr": run.scheduler.get_last_lr()[0], "train/iteration": it + 1,
        }
        if run.eval_tasks and due(it, s.eval_every, run.iterations):
            with run.autocast():
                metrics.update(evaluate(run.collect, run.eval_tasks, s.eval_samples,
                                        seed=derive_seed(run.seed, "eval", it)))
        for logger in run.loggers:
            logger.log(metrics, step=it + 1)
        bar.set_postfix(reward=f"{metrics['reward/mean']:.3f}")
        tqdm.write(iteration_line(it + 1, run.iterations, metrics))
        if due(it, s.checkpoint_every, run.iterations):
            save_checkpoint(run.run_dir, it + 1, checkpoint_state(run, it + 1), s.keep_checkpoints)
    bar.close()
    return metrics


def logprob_temperature(engine) -> float:
    """The temperature the sampler used (greedy rollouts are scored at temperature 1)."""
    return engine.temperature if engine.temperature > 0 else 1.0


def due(it: int, every: int, iterations: int) -> bool:
    """True every `every` iterations and always at the last one (`every=0`: only the last)."""
    return it + 1 == iterations or (every > 0 and (it + 1) % every == 0)


def shape_rewards(batch: RolloutBatch, shaping: Mapping[str, Callable]) -> dict[str, float]:
    """Add each shaping term's (B,) bonus to the sequence rewards; log each term's mean."""
    stats = {}
    for name, term in shaping.items():
        bonus = term(batch)
        batch.seq_rewards = batch.seq_rewards + bonus
        stats[f"reward/{name}"] = bonus.float().mean().item()
    return stats


def prepare_update(run: Run, batch: RolloutBatch) -> tuple[TrainBatch, dict[str, float]]:
    """Old/ref log-probs and values, token rewards (with KL-in-reward), then advantages."""
    s, started = run.settings, time.perf_counter()
    common = dict(micro_batch_size=s.micro_batch_size, chunk_size=s.logprob_chunk_size,
                  temperature=logprob_temperature(run.engine), device=run.device)
    old_logprobs, old_values, entropy = score_tokens(
        run.model, batch.input_ids, batch.attention_mask, value_head=run.value_head,
        with_entropy=batch.episode_ids is not None, **common)
    ref_logprobs = None
    if run.reference is not None:
        ref_logprobs, _, _ = score_tokens(run.reference, batch.input_ids, batch.attention_mask, **common)
    rewards = token_rewards(batch.seq_rewards, batch.action_mask)
    stats = {}
    if ref_logprobs is not None and run.objective.kl_in == "reward":
        kl_penalty = run.objective.reward_kl(old_logprobs, ref_logprobs) * batch.action_mask
        rewards = rewards - kl_penalty
        stats["reward/kl_penalty"] = (kl_penalty.sum() / batch.action_mask.sum().clamp(min=1)).item()
    advantages, returns = compute_advantages(run.advantage_fn, batch, rewards, old_values, entropy)
    mask = batch.action_mask.bool()
    stats.update({
        "advantages/mean": advantages[mask].mean().item() if mask.any() else 0.0,
        "advantages/abs_mean": advantages[mask].abs().mean().item() if mask.any() else 0.0,
        "perf/time/logprobs": time.perf_counter() - started,
    })
    return TrainBatch(batch.input_ids, batch.attention_mask, batch.action_mask, old_logprobs,
                      advantages, returns, ref_logprobs, old_values), stats


def compute_advantages(advantage_fn: Callable, batch: RolloutBatch, rewards: torch.Tensor,
                       values: torch.Tensor | None, entropy: torch.Tensor | None):
    """Single-turn rows go to the estimator as they are. Multi-turn rows: step-level
    estimators (GiGPO, HGPO, EMPG) get the step layout; value-based ones (GAE) run on the rows;
    the rest (GRPO, RLOO, ...) run on episode returns, broadcast to each episode's steps."""
    mask = batch.action_mask.float()
    if batch.episode_ids is None or needs_values(advantage_fn):
        return advantage_fn(rewards, mask, batch.group_ids, values=values)
    step_entropy = (entropy * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    steps = StepInfo(batch.episode_ids, batch.step_ids, batch.anchor_ids, batch.context_ids,
                     step_entropy)
    if needs_steps(advantage_fn):
        return advantage_fn(rewards, mask, batch.group_ids, values=values, steps=steps)
    return episode_level(rewards, mask, batch.group_ids, steps=steps, estimator=advantage_fn)


def perf_metrics(batch: RolloutBatch, epochs: int, update_time: float, total: float) -> dict:
    tokens = batch.attention_mask.sum().item()
    return {
        "perf/time/update": update_time,
        "perf/time/iteration": total,
        "perf/update_tokens_per_s": tokens * epochs / max(update_time, 1e-9),
        "perf/throughput": tokens / max(total, 1e-9),
    }


def checkpoint_state(run: Run, step: int) -> dict[str, Any]:
    trainable = {n: p.detach().cpu() for n, p in run.model.named_parameters() if p.requires_grad}
    return {
        "step": step,
        "model": trainable,
        "value_head": run.value_head.state_dict() if run.value_head is not None else None,
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "curriculum": run.curriculum.state_dict(),
        "rng": rng_state(),
        **run.extra_state,
    }


def iteration_line(step: int, total: int, m: Mapping[str, float]) -> str:
    line = (f"iter {step}/{total}  reward {m['reward/mean']:.3f}  correct {m['rollout/correct']:.3f}"
            f"  len {m['response_length/mean']:.0f}  loss {m.get('loss/policy', float('nan')):.4f}"
            f"  {m['perf/time/iteration']:.1f}s")
    if "eval/pass@1" in m:
        line += f"  eval pass@1 {m['eval/pass@1']:.3f}"
    return line
