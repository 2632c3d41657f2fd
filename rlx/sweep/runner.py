"""Run a sweep: validate every point, make the sweep and run directories, then launch.

On SLURM (a launcher with `launch_array`) the points become one job array and this returns once
it is queued. Locally each point trains in a fresh `python -m rlx.train RUN_DIR` process, one
after another or `parallel` at a time (one GPU each when there are GPUs).
"""

from __future__ import annotations

import datetime as _dt
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import instantiate

from rlx.config.compose import check_overrides, chosen_groups
from rlx.config.validate import ConfigError
from rlx.envs.cpus import available_cpus
from rlx.launch import resolved, validate_config
from rlx.launchers.local import visible_gpu_ids
from rlx.run_dir import new_run_dir, write_run_files
from rlx.sweep.registry import PointRecord, Registry

WANDB_TARGET = "rlx.logging.wandb_logger.WandbLogger"


@dataclass
class Point:
    overrides: list[str]
    config: dict[str, Any]
    choices: dict[str, Any]


def prepare_points(name: str, overrides: Sequence[Sequence[str]], array_parallelism: int = 0) -> list[Point]:
    """Compose and validate every point before anything is written; one `ConfigError` lists
    the problems of all points, each prefixed with the point's overrides."""
    points, problems = [], {}
    for i, ov in enumerate(overrides):
        try:
            config = resolved(check_overrides(ov))
            join_sweep(config, name, array_parallelism)
            validate_config(config)
            points.append(Point(list(ov), config, chosen_groups(ov)))
        except ConfigError as err:
            for problem in err.problems:
                problems.setdefault(problem, []).append(i)
    if problems:  # each problem once, with the points it affects
        raise ConfigError([f"{_points_label(ids, len(overrides))}: {p}" for p, ids in problems.items()])
    launchers = {repr(p.config["launcher"]) for p in points}
    if len(launchers) > 1:
        raise ConfigError(["all points of a sweep must use the same launcher settings; "
                           "move launcher.* overrides out of `points`/`grid`"])
    return points


def _points_label(ids: list[int], total: int) -> str:
    return "all points" if len(ids) == total > 1 else "point" + "s" * (len(ids) > 1) + " " + ",".join(map(str, ids))


def join_sweep(config: dict[str, Any], name: str, array_parallelism: int = 0) -> None:
    """Points of one sweep share the W&B group (the sweep's name) and carry a `sweep:` tag;
    the sweep file's `array_parallelism` (when set) caps the launcher's job array."""
    if array_parallelism and "array_parallelism" in config["launcher"]:
        config["launcher"]["array_parallelism"] = array_parallelism
    logger = config.get("logger") or {}
    if "group" in logger:
        logger["group"] = name
    if "tags_extra" in logger:
        logger["tags_extra"] = [*logger["tags_extra"], f"sweep:{name}"]


def new_sweep(name: str, points: Sequence[Point], spec_path: Path | None) -> Registry:
    """`<runs_root>/sweeps/<name>/<timestamp>/` with an empty registry."""
    sweep_dir = new_run_dir(Path(points[0].config["runs_root"]) / "sweeps", name)
    registry = Registry(name=name, sweep_dir=str(sweep_dir), launcher=launcher_kind(points[0].config),
                        created=_dt.datetime.now().isoformat(timespec="seconds"),
                        spec=str(spec_path) if spec_path else None)
    registry.save()
    return registry


def launcher_kind(config: dict[str, Any]) -> str:
    return config["launcher"]["_target_"].rsplit(".", 1)[-1]


def add_points(registry: Registry, points: Sequence[Point], params: Sequence[dict] = ()) -> list[PointRecord]:
    """Give each point its run directory `<sweep_dir>/<NNN>` with config, manifest and W&B id."""
    records = []
    for k, point in enumerate(points):
        index = len(registry.points)
        run_dir = Path(registry.sweep_dir) / f"{index:03d}"
        run_dir.mkdir()
        write_run_files(run_dir, point.config, overrides=point.overrides, choices=point.choices,
                        extra={"sweep": {"name": registry.name, "dir": registry.sweep_dir, "point": index}})
        record = PointRecord(point=index, overrides=point.overrides, run_dir=str(run_dir),
                             wandb_run_id=preset_wandb_id(run_dir, point.config),
                             params=dict(params[k]) if params else {})
        registry.points.append(record)
        records.append(record)
    registry.save()
    return records


def preset_wandb_id(run_dir: Path, config: dict[str, Any]) -> str | None:
    """Fix the W&B run id now (the logger reuses it), so the registry can name it before the run."""
    if (config.get("logger") or {}).get("_target_") != WANDB_TARGET:
        return None
    from rlx.logging.wandb_logger import run_id_for

    return run_id_for(run_dir)


def launch_points(registry: Registry, records: Sequence[PointRecord], config: dict[str, Any],
                  parallel: int) -> int:
    """Queue the points as one SLURM array, or train them here; the number of failed points
    (always 0 for a queued array: `python -m rlx.status` follows it)."""
    launcher = instantiate(config["launcher"], _convert_="all")
    run_dirs = [Path(r.run_dir) for r in records]
    if hasattr(launcher, "launch_array"):
        for record, job_id in zip(records, launcher.launch_array(run_dirs)):
            record.job_id = str(job_id)
        registry.save()
        print(f"rlx: sweep {registry.name}: {len(records)} points queued as one job array; "
              f"follow with  python -m rlx.status {registry.sweep_dir}")
        return 0
    command = getattr(launcher, "command", None)
    per_point = launcher.world_size(config) if hasattr(launcher, "world_size") else 1
    return run_locally(run_dirs, parallel, command=command, per_point=per_point)


def local_slots(parallel: int, per_point: int = 1) -> list[dict[str, str]]:
    """Environment overrides for each concurrent local slot: `per_point` GPUs each when there
    are GPUs (never more slots than GPU groups), otherwise `per_point` CPU cores each."""
    gpus = visible_gpu_ids()
    if gpus:
        groups = [gpus[i:i + per_point] for i in range(0, len(gpus) - per_point + 1, per_point)]
        return [{"CUDA_VISIBLE_DEVICES": ",".join(g)} for g in groups[: max(1, parallel)]]
    cpus = available_cpus()
    fits = max(1, cpus // per_point)
    if parallel > fits:
        print(f"rlx: {parallel} parallel points of {per_point} process(es) asked for but this job "
              f"has {cpus} CPU(s); running {fits} at a time")
    return [{} for _ in range(max(1, min(parallel, fits)))]


def run_locally(run_dirs: Sequence[Path], parallel: int, command: Callable[[Path], list[str]] | None = None,
                per_point: int = 1) -> int:
    """Train each run dir in fresh processes (`command(run_dir)`, default `python -m rlx.train
    RUN_DIR`), `parallel` points at a time; return the failure count. Each point's output goes
    to `<run_dir>/train.log`."""
    slots = local_slots(parallel, per_point)
    command = command or (lambda run_dir: [sys.executable, "-m", "rlx.train", str(run_dir)])
    free, pending, running, failed = list(range(len(slots))), list(run_dirs), {}, 0
    try:
        while pending or running:
            while pending and free:
                run_dir, slot = pending.pop(0), free.pop(0)
                log = (run_dir / "train.log").open("w")
                proc = subprocess.Popen(command(run_dir), stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **slots[slot]})
                running[proc] = (run_dir, slot, log)
                print(f"rlx: started {run_dir.name} (pid {proc.pid}); log {run_dir / 'train.log'}")
            time.sleep(0.2)
            for proc in [p for p in running if p.poll() is not None]:
                run_dir, slot, log = running.pop(proc)
                log.close()
                free.append(slot)
                failed += proc.returncode != 0
                print(f"rlx: {run_dir.name} {'done' if proc.returncode == 0 else failure(run_dir, proc.returncode)}")
    finally:
        for proc in running:
            proc.terminate()
    return failed


def failure(run_dir: Path, code: int) -> str:
    """'FAILED (exit N): <the error status.json names>' (its first line: the root cause)."""
    from rlx.run_status import read_status

    error = ((read_status(run_dir) or {}).get("error") or "").strip().splitlines()
    return f"FAILED (exit {code})" + (f": {error[0][:300]}" if error else "")
