"""Build a training run from a run directory's resolved config, resume it if it has a
checkpoint, and train. This and `launch.py` are the only places that read the config."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate

from rlx.algos.advantages import needs_values
from rlx.algos.step_advantages import needs_steps
from rlx.logging.base import MetricsFile
from rlx.run_dir import read_config, read_manifest
from rlx.train.checkpoint import load_latest
from rlx.train.loop import Run, train
from rlx.train.rollout import collect
from rlx.envs.base import SingleTurnEnv
from rlx.envs.text_env import TextEnv
from rlx.train.settings import TrainerSettings
from rlx.utils.seeding import derive_seed, seed_everything, set_rng_state

METRICS_FILE = "metrics.jsonl"


def build(node: Mapping[str, Any], **runtime: Any) -> Any:
    """Instantiate a `_target_` node with plain Python containers (no DictConfig leaks in);
    a `_partial_` node is then called with the `runtime` arguments, if any."""
    obj = instantiate(dict(node), _convert_="all")
    return obj(**runtime) if runtime else obj


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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
    from rlx.agent.rollout import play_episodes
    from rlx.envs.pool import EnvPool

    agent = build(config["agent"])
    if agent.sample_mode == "trajectory" and needs_steps(build(config["advantage"])):
        raise ValueError("agent.sample_mode=trajectory trains one row per episode; step-level "
                         "estimators (gigpo, hgpo, empg) need agent.sample_mode=step")
    pool = EnvPool(partial(build, config["env"]), agent.num_workers, max_steps=agent.max_steps,
                   step_timeout_s=agent.step_timeout_s, reset_timeout_s=agent.reset_timeout_s)
    return partial(play_episodes, engine, tokenizer, pool, settings=agent)


def build_run(config: dict[str, Any], run_dir: Path) -> Run:
    """Every component of the run, resumed from the latest checkpoint in `run_dir` if any."""
    seed, device = config["seed"], resolve_device(config["device"])
    seed_everything(seed)
    settings: TrainerSettings = build(config["trainer"])
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

        value_head = ValueHead(policy.model.config.hidden_size).to(device)
    env = build(config["env"])
    trainable = [p for p in policy.model.parameters() if p.requires_grad]
    if value_head is not None:
        trainable += list(value_head.parameters())
    optimizer = torch.optim.AdamW(trainable, lr=settings.lr, weight_decay=settings.weight_decay,
                                  betas=tuple(settings.adam_betas))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(
        lr_lambda, schedule=settings.lr_schedule, warmup=settings.warmup_iters,
        total=config["iterations"]))
    engine = build(config["rollout"], model=policy.model, tokenizer=policy.tokenizer)
    run = Run(
        model=policy.model, tokenizer=policy.tokenizer, reference=reference, value_head=value_head,
        engine=engine, collect=make_collector(config, env, engine, policy.tokenizer),
        eval_tasks=list(env.tasks("eval"))[: settings.eval_tasks],
        curriculum=build(config["curriculum"], tasks=env.tasks("train"),
                         seed=derive_seed(seed, "curriculum")),
        advantage_fn=advantage_fn, objective=objective,
        shaping={name: build(node) for name, node in (config.get("reward") or {}).items()},
        optimizer=optimizer, scheduler=scheduler, loggers=[], settings=settings, device=device,
        autocast=autocast_for(device, settings.mixed_precision),
        seed=seed, iterations=config["iterations"], run_dir=run_dir,
    )
    resume(run)
    tags = config_tags(read_manifest(run_dir).get("choices", {}))
    run.loggers = [MetricsFile(run_dir / METRICS_FILE, resume_step=run.start_iteration),
                   build(config["logger"], run_dir=run_dir, run_config=config, tags=tags)]
    return run


def resume(run: Run) -> None:
    """Load the newest checkpoint of `run.run_dir` into `run`, if there is one."""
    state = load_latest(run.run_dir)
    if state is None:
        return
    params = dict(run.model.named_parameters())
    with torch.no_grad():
        for name, value in state["model"].items():
            params[name].copy_(value)
    if run.value_head is not None:
        run.value_head.load_state_dict(state["value_head"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.curriculum.load_state_dict(state["curriculum"])
    set_rng_state(state["rng"])
    run.start_iteration = state["step"]
    print(f"rlx: resumed from checkpoint at iteration {state['step']}")


def run(run_dir: str | Path) -> dict[str, float]:
    """Train the run in `run_dir` (a directory prepared by launch.py or rlx.replay)."""
    run_dir = Path(run_dir).resolve()
    config = read_config(run_dir)
    training = build_run(config, run_dir)
    try:
        metrics = train(training)
    finally:
        for logger in training.loggers:
            logger.finish()
    print(f"rlx: done; run directory {run_dir} (metrics in {run_dir / METRICS_FILE})")
    return metrics
