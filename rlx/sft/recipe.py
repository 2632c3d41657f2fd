"""Build an SFT run from a run directory's resolved config (`trainer=sft`), resume it if it has
a checkpoint, and train. `rlx.train.recipe.run` hands runs whose trainer is `SFTSettings` here,
so every launcher (local, subprocess, SLURM) and `python -m rlx.train RUN_DIR` run SFT too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlx.distributed import device_for, process_layout
from rlx.logging.base import MetricsFile
from rlx.run_dir import read_config, read_manifest
from rlx.envs.base import SingleTurnEnv
from rlx.sft.demos import demo_rows, load_demos, play_demos, save_demos, single_turn_rows
from rlx.sft.loop import SFTRun, train_sft
from rlx.sft.settings import SFTSettings
from rlx.train.checkpoint import load_latest
from rlx.train.parallel import load_trainable_state
from rlx.train.recipe import METRICS_FILE, autocast_for, build, config_tags, make_collector, make_optimizer
from rlx.utils.seeding import seed_everything, set_rng_state


def demonstrations(config: dict[str, Any], settings: SFTSettings, env: Any, run_dir: Path):
    """The run's demonstration rows: read from `<run_dir>/demos`, or played and written there."""
    rows = load_demos(run_dir)
    if rows is not None:
        return rows, {}
    tasks = list(env.tasks("train"))[: settings.demo_tasks]
    if isinstance(env, SingleTurnEnv):
        made, played = single_turn_rows(env, tasks, settings.demos)
        won = len(made)
    else:
        episodes, played = play_demos(env, tasks, settings.demos, settings.demo_max_steps)
        made, won = demo_rows(episodes, build(config["agent"])), len(episodes)
    save_demos(made, run_dir)
    rows = load_demos(run_dir)
    stats = {"demos/episodes_played": float(played), "demos/episodes_won": float(won),
             "demos/rows": float(len(rows))}
    print(f"rlx: {won} of {played} demonstrations won; {len(rows)} rows written to {run_dir / 'demos'}")
    return rows, stats


def build_sft(config: dict[str, Any], run_dir: Path) -> tuple[SFTRun, dict[str, float]]:
    """Every component of the SFT run, resumed from the latest checkpoint in `run_dir` if any."""
    seed, device = config["seed"], device_for(process_layout(), config["device"])
    seed_everything(seed)
    settings: SFTSettings = build(config["trainer"])
    policy = build(config["model"])(device=device)
    env = build(config["env"])
    rows, stats = demonstrations(config, settings, env, run_dir)
    trainable = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer, scheduler = make_optimizer(trainable, settings, config["iterations"])
    engine = build(config["rollout"], model=policy.model, tokenizer=policy.tokenizer)
    run = SFTRun(
        model=policy.model, tokenizer=policy.tokenizer, rows=list(rows),
        collect=make_collector(config, env, engine, policy.tokenizer), engine=engine,
        eval_tasks=list(env.tasks("eval"))[: settings.eval_tasks],
        optimizer=optimizer, scheduler=scheduler, loggers=[], settings=settings, device=device,
        autocast=autocast_for(device, settings.mixed_precision), seed=seed,
        iterations=config["iterations"], run_dir=run_dir,
    )
    state = load_latest(run_dir)
    if state is not None:
        load_trainable_state(run.model, state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        run.start_iteration = state["step"]
        print(f"rlx: resumed SFT from checkpoint at step {state['step']}")
    tags = config_tags(read_manifest(run_dir).get("choices", {}))
    run.loggers = [MetricsFile(run_dir / METRICS_FILE, resume_step=run.start_iteration),
                   build(config["logger"], run_dir=run_dir, run_config=config, tags=tags)]
    return run, stats


def run(run_dir: str | Path, should_stop: Callable[[], bool] | None = None) -> dict[str, float]:
    """Fine-tune the run in `run_dir` on its demonstrations (one process)."""
    run_dir = Path(run_dir).resolve()
    config = read_config(run_dir)
    sft, stats = build_sft(config, run_dir)
    if should_stop is not None:
        sft.should_stop = should_stop
    try:
        if stats:
            for logger in sft.loggers:
                logger.log(stats, step=0)
        metrics = train_sft(sft)
    finally:
        for logger in sft.loggers:
            logger.finish()
    print(f"rlx: done; run directory {run_dir} (metrics in {run_dir / METRICS_FILE}; "
          f"weights in {run_dir / 'model'}: use model=from_run model.run_dir={run_dir})")
    return metrics
