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
from rlx.algos.entropy_smoothing import EntropyHistory
from rlx.algos.hiper import value_mask
from rlx.algos.step_advantages import StepInfo, episode_level, needs_entropy, needs_steps
from rlx.curriculum.base import GroupFilter, TrainingSelector
from rlx.distributed import all_reduce_max
from rlx.envs.base import Task
from rlx.reward.combine import combine_rewards, reward_sum
from rlx.train.batching import filtered_rollouts, group_outcomes, select_training_data
from rlx.train.checkpoint import save_checkpoint
from rlx.train.evaluate import evaluate
from rlx.train.parallel import DataParallel, full_state, trainable_state
from rlx.rollout.batch import RolloutBatch
from rlx.train.rollout import rollout_metrics, token_rewards
from rlx.train.settings import TrainerSettings
from rlx.train.transcripts import transcript_writer
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
    parallel: DataParallel = field(default_factory=DataParallel)  # ranks (default: one process)
    reward_combine: Callable = reward_sum  # how task reward and shaping terms make the reward
    eval_collect: Callable[..., RolloutBatch] | None = None  # evaluation rollouts (None: collect)
    entropy_history: EntropyHistory = field(default_factory=EntropyHistory)  # EPO's reference
    should_stop: Callable[[], bool] = lambda: False  # polled between iterations (SLURM's signals)


def train(run: Run) -> dict[str, float]:
    """Train from `run.start_iteration` to `run.iterations`; return the last metrics."""
    s, metrics = run.settings, {}
    bar = tqdm(range(run.start_iteration, run.iterations), desc="rlx", unit="it",
               initial=run.start_iteration, total=run.iterations, dynamic_ncols=True,
               disable=not run.parallel.is_main)
    if s.eval_at_start and run.eval_tasks and run.start_iteration == 0:  # the "before" figure
        before = run_evaluation(run, derive_seed(run.seed, "eval", "start"), step=0)
        if (error := log_all(run.loggers, before, 0)) is not None:
            raise error
        if run.parallel.is_main:
            tqdm.write(f"before training: eval pass@1 {before['eval/pass@1']:.3f}")
    for it in bar:
        start = time.perf_counter()
        with run.autocast():
            batch = collect_batch(run, it)
        shaping_stats = shape_rewards(batch, run.shaping, run.reward_combine)
        with run.autocast():
            train_batch, adv_stats = prepare_update(run, batch, iteration=it)
        t_update = time.perf_counter()
        update_stats = ppo_update(
            run.model, run.value_head, run.optimizer, run.objective.scheduled(it / run.iterations),
            train_batch,
            epochs=s.ppo_epochs, minibatches=s.minibatches, micro_batch_size=s.micro_batch_size,
            max_grad_norm=s.max_grad_norm, chunk_size=s.logprob_chunk_size,
            temperature=logprob_temperature(run.engine), device=run.device, autocast=run.autocast,
            generator=torch.Generator().manual_seed(derive_seed(run.seed, "minibatch", it)),
            parallel=run.parallel)
        t_update = time.perf_counter() - t_update
        sync_time = run.engine.sync_weights(run.model)  # the sampler now holds the new weights
        run.scheduler.step()
        metrics = {
            **rollout_metrics(batch, s.group_size), **shaping_stats, **adv_stats, **update_stats,
            **run.curriculum.update(*group_outcomes(batch, s.group_size)), **batch.stats,
            **perf_metrics(batch, train_batch, s.ppo_epochs, t_update, time.perf_counter() - start),
            "perf/time/weight_sync": sync_time,
            "policy/lr": run.scheduler.get_last_lr()[0], "train/iteration": it + 1,
        }
        if run.eval_tasks and due(it, s.eval_every, run.iterations):
            metrics.update(run_evaluation(run, derive_seed(run.seed, "eval", it), step=it + 1))
        log_error = log_all(run.loggers, metrics, it + 1)  # raised after the checkpoint below
        bar.set_postfix(reward=f"{metrics['reward/mean']:.3f}")
        if run.parallel.is_main:
            tqdm.write(iteration_line(it + 1, run.iterations, metrics))
        stop = all_reduce_max(int(run.should_stop()), run.parallel.layout) > 0  # all ranks agree
        failed = all_reduce_max(int(log_error is not None), run.parallel.layout) > 0
        if (stop or failed or due(it, s.checkpoint_every, run.iterations)) and run.parallel.joins_checkpoint:
            state = checkpoint_state(run, it + 1)  # FSDP: every rank gathers its shards
            if run.parallel.is_main:
                save_checkpoint(run.run_dir, it + 1, state, s.keep_checkpoints)
        if log_error is not None:
            raise log_error
        if stop:
            if run.parallel.is_main:
                tqdm.write(f"rlx: stop requested; checkpoint saved at iteration {it + 1}")
            break
    bar.close()
    return metrics


def log_all(loggers: Sequence[Any], metrics: Mapping[str, float], step: int) -> Exception | None:
    """Give the row to every logger (one failing does not keep it from the others); return the
    first error, for the caller to raise once the iteration's checkpoint is written."""
    first = None
    for logger in loggers:
        try:
            logger.log(metrics, step=step)
        except Exception as err:  # noqa: BLE001 -- re-raised by the caller
            first = first or err
    return first


def run_evaluation(run: Run, seed: int, step: int) -> dict[str, float]:
    """pass@k and friends on the held-out tasks (`rlx.train.evaluate`); the main process also
    writes `trainer.eval_transcripts` episodes of it (`rlx.train.transcripts`)."""
    keep = run.settings.eval_transcripts if run.parallel.is_main else 0
    with run.autocast():
        return evaluate(run.eval_collect or run.collect, run.eval_tasks, run.settings.eval_samples, seed=seed,
                        on_batch=transcript_writer(run.run_dir, step, run.tokenizer, keep))


def collect_batch(run: Run, it: int) -> RolloutBatch:
    """The iteration's rollouts: the curriculum's next `tasks_per_iter` tasks, G times each. A
    curriculum that filters groups (`GroupFilter`, DAPO dynamic sampling) gets more rounds of
    `tasks_per_iter` tasks until it kept that many groups or ran `max_rounds` rounds
    (`rlx.train.batching.filtered_rollouts`)."""
    s = run.settings

    def roll(round_: int) -> RolloutBatch:
        seed = derive_seed(run.seed, "rollout", it, *([round_] if round_ else []))
        return run.collect(run.curriculum.sample(s.tasks_per_iter), s.group_size, seed=seed)

    if not isinstance(run.curriculum, GroupFilter):
        return roll(0)
    return filtered_rollouts(roll, run.curriculum.keep_groups, max_rounds=run.curriculum.max_rounds,
                             num_groups=s.tasks_per_iter, group_size=s.group_size,
                             pad_id=run.tokenizer.pad_token_id)


def logprob_temperature(engine) -> float:
    """The temperature the sampler used (greedy rollouts are scored at temperature 1)."""
    return engine.temperature if engine.temperature > 0 else 1.0


def due(it: int, every: int, iterations: int) -> bool:
    """True every `every` iterations and always at the last one (`every=0`: only the last)."""
    return it + 1 == iterations or (every > 0 and (it + 1) % every == 0)


def shape_rewards(batch: RolloutBatch, shaping: Mapping[str, Callable],
                  combine: Callable = reward_sum) -> dict[str, float]:
    """Combine the task reward and each shaping term's (B,) values into the sequence rewards
    (`rlx.reward.combine`); log each term's mean and the raw (summed) shaped reward's mean."""
    if "task" in shaping:
        raise ValueError('"task" names the environment reward; rename the reward term')
    components = {"task": batch.seq_rewards, **{name: term(batch) for name, term in shaping.items()}}
    batch.seq_rewards = combine_rewards(combine, components, batch.group_ids, batch.episode_ids,
                                        batch.step_ids)
    stats = {f"reward/{name}": c.float().mean().item() for name, c in components.items()
             if name != "task"}
    stats["reward/shaped_mean"] = reward_sum(components, batch.group_ids).mean().item()
    return stats


def prepare_update(run: Run, batch: RolloutBatch, iteration: int = 0) -> tuple[TrainBatch, dict[str, float]]:
    """Old/ref log-probs and values, token rewards (with KL-in-reward), advantages, then the
    curriculum's choice of rows and tokens to train on (`TrainingSelector`, D^3S), if any.
    `iteration`: the training iteration, for estimators with a schedule (HiMAC).
    Without a scoring pass (`needs_scoring_pass`) the update takes old log-probs and the logged
    entropy from its own forward (TrainBatch.old_logprobs is None)."""
    s, started = run.settings, time.perf_counter()
    common = dict(micro_batch_size=s.micro_batch_size, chunk_size=s.logprob_chunk_size,
                  temperature=logprob_temperature(run.engine), device=run.device,
                  parallel=run.parallel)
    old_logprobs = old_values = entropy = None
    if needs_scoring_pass(run):
        old_logprobs, old_values, entropy = score_tokens(
            run.model, batch.input_ids, batch.attention_mask, value_head=run.value_head,
            with_entropy=True, **common)  # logged; EMPG, D^3S and EPO use it
    ref_logprobs = None
    if run.reference is not None:
        ref_logprobs, _, _ = score_tokens(run.reference, batch.input_ids, batch.attention_mask, **common)
    rewards = token_rewards(batch.seq_rewards, batch.action_mask)
    stats = {}
    if ref_logprobs is not None and run.objective.kl_in == "reward":
        kl_penalty = run.objective.reward_kl(old_logprobs, ref_logprobs) * batch.action_mask
        rewards = rewards - kl_penalty
        stats["reward/kl_penalty"] = (kl_penalty.sum() / batch.action_mask.sum().clamp(min=1)).item()
    advantage_started = time.perf_counter()
    advantages, returns = compute_advantages(run.advantage_fn, batch, rewards, old_values, entropy,
                                             iteration=iteration)
    mask = batch.action_mask.bool()
    if entropy is not None:
        stats["policy/entropy"] = entropy[mask].mean().item() if mask.any() else 0.0
    stats.update({
        "perf/time/advantage": time.perf_counter() - advantage_started,
        "advantages/mean": advantages[mask].mean().item() if mask.any() else 0.0,
        "advantages/abs_mean": advantages[mask].abs().mean().item() if mask.any() else 0.0,
        "perf/time/logprobs": time.perf_counter() - started,
    })
    stats.update(planner_stats(batch, advantages))
    train_batch = TrainBatch(batch.input_ids, batch.attention_mask, batch.action_mask, old_logprobs,
                             advantages, returns, ref_logprobs, old_values,
                             entropy_ref=entropy_reference(run, batch, entropy),
                             value_mask=head_value_mask(batch, returns),
                             sampler_logprobs=batch.sampler_logprobs)
    train_batch, select_stats = select_training_data(run.curriculum, batch, train_batch, entropy)
    return train_batch, {**stats, **select_stats}


def needs_scoring_pass(run: Run) -> bool:
    """Whether the rollouts are scored (old log-probs, entropy, values) before the update.

    Not needed when the update is strictly on-policy (one epoch of one mini-batch: the weights
    that sampled are the weights of the update's forward, so its detached log-probs are the old
    ones and the ratio is exactly 1; TRL skips this pass too) and nothing before the update reads
    them: no value head (GAE), no KL in the reward, no entropy-using estimator (EMPG), no
    curriculum choosing rows/tokens from advantages and entropy (D^3S), no EPO smoothing (its
    reference is updated from this batch's entropy before the update). A KL term in the loss
    still needs the reference pass (kept); mismatch correction does not need this one: its
    weights use old log-probs, which the update's forward provides."""
    s = run.settings
    return ((s.ppo_epochs, s.minibatches) != (1, 1) or run.value_head is not None
            or (run.reference is not None and run.objective.kl_in == "reward")
            or needs_entropy(run.advantage_fn) or isinstance(run.curriculum, TrainingSelector)
            or run.objective.smoothing is not None)


def entropy_reference(run: Run, batch: RolloutBatch, entropy: torch.Tensor) -> torch.Tensor | None:
    """EPO (`loss.smoothing`): add this batch to the per-turn entropy history, then return each
    action token's historical mean entropy Hbar of its turn (B, T); None without smoothing."""
    if run.objective.smoothing is None:
        return None
    turns = batch.step_ids if batch.step_ids is not None else torch.zeros(len(batch.tasks), dtype=torch.long)
    run.entropy_history.observe(entropy, batch.action_mask, turns)
    return run.entropy_history.reference(turns)[:, None] * batch.action_mask


def compute_advantages(advantage_fn: Callable, batch: RolloutBatch, rewards: torch.Tensor,
                       values: torch.Tensor | None, entropy: torch.Tensor | None,
                       iteration: int = 0):
    """Single-turn rows go to the estimator as they are. Multi-turn rows: step-level
    estimators (GiGPO, HGPO, EMPG, HiPER, HiMAC) get the step layout (HiPER also the values);
    value-based ones (GAE) run on the rows; the rest (GRPO, RLOO, ...) run on episode
    returns, broadcast to each episode's steps."""
    mask = batch.action_mask.float()
    if batch.episode_ids is None or (needs_values(advantage_fn) and not needs_steps(advantage_fn)):
        return advantage_fn(rewards, mask, batch.group_ids, values=values)
    step_entropy = None if entropy is None else (entropy * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    steps = StepInfo(batch.episode_ids, batch.step_ids, batch.anchor_ids, batch.context_ids,
                     step_entropy, planner_mask=batch.planner_mask, segment_ids=batch.segment_ids,
                     blueprint_ids=batch.blueprint_ids, iteration=iteration)
    if needs_steps(advantage_fn):
        return advantage_fn(rewards, mask, batch.group_ids, values=values, steps=steps)
    return episode_level(rewards, mask, batch.group_ids, steps=steps, estimator=advantage_fn)


def head_value_mask(batch: RolloutBatch, returns: torch.Tensor) -> torch.Tensor | None:
    """(B, T, H) tokens each value head trains on when the estimator gave (B, T, H) returns
    (HiPER's two heads, `rlx.algos.hiper.value_mask`); None for one head."""
    if returns.dim() == 2:
        return None
    steps = StepInfo(batch.episode_ids, batch.step_ids, batch.anchor_ids,
                     planner_mask=batch.planner_mask, segment_ids=batch.segment_ids)
    return value_mask(batch.action_mask, batch.group_ids, steps)


def planner_stats(batch: RolloutBatch, advantages: torch.Tensor) -> dict[str, float]:
    """Planner vs executor advantage figures for hierarchical agents (none for flat ones)."""
    if batch.planner_mask is None:
        return {}
    acting = batch.action_mask.bool()
    stats = {}
    for name, tokens in (("planner", batch.planner_mask.bool() & acting),
                         ("executor", acting & ~batch.planner_mask.bool())):
        values = advantages[tokens]
        stats[f"advantages/{name}_mean"] = values.mean().item() if values.numel() else 0.0
        stats[f"advantages/{name}_abs_mean"] = values.abs().mean().item() if values.numel() else 0.0
        stats[f"advantages/{name}_std"] = values.std().item() if values.numel() > 1 else 0.0
    return stats


def perf_metrics(batch: RolloutBatch, trained: TrainBatch, epochs: int, update_time: float,
                 total: float) -> dict:
    """Update speed over the rows actually trained on (a curriculum may drop some), overall
    throughput over all rolled-out tokens."""
    return {
        "perf/time/update": update_time,
        "perf/time/iteration": total,
        "perf/update_tokens_per_s": trained.attention_mask.sum().item() * epochs / max(update_time, 1e-9),
        "perf/throughput": batch.attention_mask.sum().item() / max(total, 1e-9),
    }


def checkpoint_state(run: Run, step: int) -> dict[str, Any]:
    """Full (unsharded) state, the same whatever the number of ranks; under FSDP every rank
    calls this (gathering is collective) and only rank 0 keeps the gathered values."""
    keep = run.parallel.is_main
    return {
        "step": step,
        "model": trainable_state(run.model, keep),
        "value_head": full_state(run.value_head.state_dict(), keep) if run.value_head is not None else None,
        "optimizer": full_state(run.optimizer.state_dict(), keep),
        "scheduler": run.scheduler.state_dict(),
        "curriculum": run.curriculum.state_dict(),
        "entropy_history": run.entropy_history.state_dict(),
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
