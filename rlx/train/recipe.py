"""Build a training run from a run directory's resolved config, resume it if it has a
checkpoint, and train. This and `launch.py` are the only places that read the config."""

from __future__ import annotations

import importlib
import inspect
import math
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from rlx.algos.advantages import needs_values, value_heads
from rlx.algos.step_advantages import needs_agent_mode, needs_steps
from rlx.config.preflight import root_cause
from rlx.config.validate import import_target
from rlx import distributed
from rlx.distributed import ProcessLayout, broadcast_module, device_for, process_layout
from rlx.logging.base import MetricsFile
from rlx.run_dir import read_config, read_manifest
from rlx.train.checkpoint import load_latest
from rlx.train.closing import closing_note
from rlx.train.loop import Run, train
from rlx.train.parallel import (DataParallel, check_world_size, load_tensors, load_trainable_state,
                                shard_optimizer_state)
from rlx.reward.budget import collect_prompt_notes
from rlx.train.rollout import collect
from rlx.train.sharded_collect import shard_collect
from rlx.envs.base import SingleTurnEnv
from rlx.envs.text_env import TextEnv
from rlx.train.settings import TrainerSettings
from rlx.utils.seeding import derive_seed, seed_everything, set_rng_state

METRICS_FILE = "metrics.jsonl"


def build(node: Mapping[str, Any], **runtime: Any) -> Any:
    """Instantiate a `_target_` node with plain Python containers (no DictConfig leaks in);
    a `_partial_` node is then called with the `runtime` arguments, if any.

    A constructor's own error comes out as itself (Hydra wraps it in an InstantiationException
    whose first line, "Error in call to target ...", hides the cause, e.g. a data file that
    does not parse), so status.json and the sweep summary name the real problem."""
    try:
        obj = instantiate(dict(node), _convert_="all")
    except InstantiationException as err:
        cause = root_cause(err)
        if cause is err:
            raise
        raise cause from None
    return obj(**runtime) if runtime else obj


def declared(node: Mapping[str, Any], **available: Any) -> dict[str, Any]:
    """The runtime arguments among `available` that the `_target_` of `node` names in its
    signature (e.g. every curriculum takes `tasks` and `seed`; PCL also `model`, `tokenizer`)."""
    params = inspect.signature(import_target(node["_target_"])).parameters
    return {name: value for name, value in available.items() if name in params}


def autocast_for(device: torch.device, mixed_precision: str) -> Callable[[], AbstractContextManager]:
    """A context factory: bf16 autocast on CUDA when mixed precision is on, else a no-op."""
    if device.type == "cuda" and mixed_precision == "bf16":
        return partial(torch.autocast, device_type="cuda", dtype=torch.bfloat16)
    return nullcontext


def lr_lambda(it: int, *, schedule: str, warmup: int, total: int) -> float:
    """Multiplier of the base learning rate after `it` scheduler steps (one per iteration)."""
    if warmup and it < warmup:
        return (it + 1) / warmup
    progress = (it - warmup) / max(1, total - warmup)
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return 1.0


def make_optimizer(params: list, settings: Any, iterations: int):
    """(AdamW over `params`, its per-iteration LR schedule) from a trainer's settings (RL's
    `TrainerSettings` or SFT's `SFTSettings`: lr, weight_decay, adam_betas, lr_schedule,
    warmup_iters)."""
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay,
                                  betas=tuple(settings.adam_betas))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(
        lr_lambda, schedule=settings.lr_schedule, warmup=settings.warmup_iters, total=iterations))
    return optimizer, scheduler


def config_tags(choices: Mapping[str, Any]) -> list[str]:
    """W&B tags from the chosen config groups, e.g. "advantage:grpo"."""
    return [f"{group}:{choice}" for group, choice in sorted(choices.items())
            if choice is not None and not str(group).startswith("hydra")]


def make_collector(config: dict[str, Any], env: Any, engine: Any, tokenizer: Any) -> Callable:
    """`collect(tasks, group_size, seed=)`: single-turn sampling, or multi-turn episodes played
    in an EnvPool of worker processes each building the env from its config node."""
    if isinstance(env, SingleTurnEnv):
        return partial(collect, engine, tokenizer, env)
    if not isinstance(env, TextEnv):
        raise TypeError(f"{type(env).__name__} is neither a SingleTurnEnv nor a TextEnv")
    from rlx.envs.pool import EnvPool

    agent = build(config["agent"])
    mode = needs_agent_mode(build(config["advantage"]))
    if mode is not None and getattr(agent, "mode", None) != mode:
        raise ValueError(f"advantage={mode} trains on the planner/executor rows of "
                         f"agent=hierarchical agent.mode={mode}")
    if agent.sample_mode == "trajectory" and needs_steps(build(config["advantage"])):
        raise ValueError("agent.sample_mode=trajectory trains one row per episode; step-level "
                         "estimators (gigpo, hgpo, empg) need agent.sample_mode=step")
    pool = EnvPool(partial(build, config["env"]), agent.num_workers, max_steps=agent.max_steps,
                   step_timeout_s=agent.step_timeout_s, reset_timeout_s=agent.reset_timeout_s)
    return partial(agent.player(), engine, tokenizer, pool, settings=agent)


def with_prompt_notes(collector: Callable, notes: list[str] | None) -> tuple[Callable, Callable | None]:
    """(training collector, evaluation collector or None = the same): with per-position prompt
    notes (a length budget), training rollouts carry them and evaluation runs without."""
    if notes is None:
        return collector, None
    if not (isinstance(collector, partial) and collector.func is collect):
        raise ValueError("reward.length_budget states budgets in single-turn prompts; this "
                         "environment is multi-turn")
    return partial(collector, prompt_notes=notes), collector


def build_run(config: dict[str, Any], run_dir: Path, layout: ProcessLayout = ProcessLayout()) -> Run:
    """Every component of the run, resumed from the latest checkpoint in `run_dir` if any.
    `layout`: this process's place among the training processes (`rlx.distributed`)."""
    seed, device = config["seed"], device_for(layout, config["device"])
    seed_everything(seed)
    settings: TrainerSettings = build(config["trainer"])
    check_world_size(settings.tasks_per_iter, layout.world_size, f"{layout.source} world size")
    if settings.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when CUDA starts
        torch.use_deterministic_algorithms(True)
    make_model = build(config["model"])
    policy = make_model(device=device)
    objective = build(config["loss"])
    advantage_fn = build(config["advantage"])
    reference = make_model(device=device, trainable=False).model if objective.kl_coef > 0 else None
    value_head = None
    if needs_values(advantage_fn):
        from rlx.models.value_head import ValueHead

        value_head = ValueHead(policy.model.config.hidden_size, heads=value_heads(advantage_fn)).to(device)
    env = build(config["env"])
    model, parallel, generation = spread(policy.model, value_head, layout, device, settings)
    if parallel.lockstep and reference is not None:
        reference = spread(reference, None, layout, device, settings)[0]
    trainable = [p for p in policy.model.parameters() if p.requires_grad]
    if value_head is not None:
        trainable += list(value_head.parameters())
    optimizer, scheduler = make_optimizer(trainable, settings, config["iterations"])
    engine = build(config["rollout"], model=policy.model, tokenizer=policy.tokenizer)
    shaping = {name: build(node) for name, node in (config.get("reward") or {}).items()}
    collect, eval_collect = with_prompt_notes(make_collector(config, env, engine, policy.tokenizer),
                                              collect_prompt_notes(shaping.values(), settings.group_size))
    if layout.distributed:
        collect = shard_collect(collect, parallel, policy.tokenizer.pad_token_id, generation)
        if eval_collect is not None:
            eval_collect = shard_collect(eval_collect, parallel, policy.tokenizer.pad_token_id, generation)
    run = Run(
        model=model, tokenizer=policy.tokenizer, reference=reference, value_head=value_head,
        engine=engine, collect=collect, eval_collect=eval_collect,
        eval_tasks=list(env.tasks("eval"))[: settings.eval_tasks],
        curriculum=build(config["curriculum"], **declared(
            config["curriculum"], tasks=env.tasks("train"), seed=derive_seed(seed, "curriculum"),
            model=policy.model, tokenizer=policy.tokenizer)),
        advantage_fn=advantage_fn, objective=objective,
        shaping=shaping, reward_combine=build(config["reward_combine"]),
        optimizer=optimizer, scheduler=scheduler, loggers=[], settings=settings, device=device,
        autocast=autocast_for(device, settings.mixed_precision),
        seed=seed, iterations=config["iterations"], run_dir=run_dir, parallel=parallel,
    )
    resume(run)
    if layout.is_main:  # only rank 0 logs
        tags = config_tags(read_manifest(run_dir).get("choices", {}))
        run.loggers = [MetricsFile(run_dir / METRICS_FILE, resume_step=run.start_iteration),
                       build(config["logger"], run_dir=run_dir, run_config=config, tags=tags)]
    return run


def spread(model: torch.nn.Module, value_head: torch.nn.Module | None, layout: ProcessLayout,
           device: torch.device, settings: TrainerSettings):
    """(model the trainer calls, DataParallel, generation context) for `trainer.parallel`.

    One process: the model as it is. ddp: every rank holds the whole model (rank 0's weights
    broadcast) and gradients are summed after accumulation. fsdp: the model is sharded
    (`rlx.train.fsdp`); the trainer calls the sharded root and generation gathers it."""
    if not layout.distributed:
        return model, DataParallel(layout), nullcontext
    if settings.parallel == "ddp":
        broadcast_module(model, layout)
        if value_head is not None:
            broadcast_module(value_head, layout)
        return model, DataParallel(layout), nullcontext
    from rlx.train.fsdp import full_weights, shard_model

    root = shard_model(model, value_head, layout, device)
    return root, DataParallel(layout, lockstep=True, reduces_grads=True), partial(full_weights, root)


def resume(run: Run) -> None:
    """Load the newest checkpoint of `run.run_dir` into `run`, if there is one."""
    state = load_latest(run.run_dir)
    if state is None:
        return
    load_trainable_state(run.model, state["model"])
    if run.value_head is not None:
        load_tensors(run.value_head.state_dict(keep_vars=True), state["value_head"])
    run.optimizer.load_state_dict(shard_optimizer_state(state["optimizer"], run.optimizer))
    run.scheduler.load_state_dict(state["scheduler"])
    run.curriculum.load_state_dict(state["curriculum"])
    if "entropy_history" in state:  # EPO's per-turn entropy history (checkpoints since EPO)
        run.entropy_history.load_state_dict(state["entropy_history"])
    set_rng_state(state["rng"])
    run.engine.sync_weights(run.model)  # an engine with its own copy of the weights (vLLM)
    run.start_iteration = state["step"]
    if run.parallel.is_main:
        print(f"rlx: resumed from checkpoint at iteration {state['step']}")


def trainer_recipe(config: dict[str, Any]) -> Callable | None:
    """The `run` of another recipe when the trainer settings class names one (`recipe`, e.g.
    `rlx.sft.settings.SFTSettings`), else None (this RL recipe)."""
    module = getattr(import_target(config["trainer"]["_target_"]), "recipe", None)
    return importlib.import_module(module).run if module else None


def run(run_dir: str | Path, should_stop: Callable[[], bool] | None = None) -> dict[str, float]:
    """Train the run in `run_dir` (a directory prepared by launch.py or rlx.replay).
    `should_stop`: polled between iterations; True checkpoints and stops (SLURM's timeout signal)."""
    run_dir = Path(run_dir).resolve()
    config = read_config(run_dir)
    other = trainer_recipe(config)
    if other is not None:  # e.g. trainer=sft
        return other(run_dir, should_stop)
    layout = process_layout()  # one process, or torchrun's / SLURM's ranks
    distributed.start(layout, device_for(layout, config["device"]))
    try:
        training = build_run(config, run_dir, layout)
        if should_stop is not None:
            training.should_stop = should_stop
        try:
            metrics = train(training)
        finally:
            for logger in training.loggers:
                logger.finish()
    finally:
        distributed.stop(layout)
    if layout.is_main:
        print(f"rlx: done; run directory {run_dir} (metrics in {run_dir / METRICS_FILE})")
        multi_turn = issubclass(import_target(config["env"]["_target_"]), TextEnv)
        print(closing_note(run_dir, read_manifest(run_dir).get("overrides", []), config["runs_root"],
                           multi_turn=multi_turn))
    return metrics
