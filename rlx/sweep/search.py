"""Optuna search over continuous (and categorical) ranges: the `optuna:` section of a sweep file.

Trials run in rounds of `batch`: Optuna proposes (ask), the points are validated, launched
(locally, or as one SLURM array per round, waited for), and each run's metric is reported back
(tell). The study lives in `<sweep_dir>/optuna.db` (SQLite) and every trial is a registry point
with its parameters and value, so `python -m rlx.status` and `python -m rlx.compare` read it too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlx.config.validate import ConfigError
from rlx.logging.base import read_metrics
from rlx.sweep.registry import PointRecord, Registry
from rlx.sweep.runner import add_points, launch_points, new_sweep, prepare_points
from rlx.sweep.spec import OptunaSearch, SearchParam, SweepSpec, expand, format_value

POLL_S = 2.0


def suggest(trial: Any, param: SearchParam) -> Any:
    """Optuna's suggestion for one search dimension."""
    if param.choices is not None:
        return trial.suggest_categorical(param.key, list(param.choices))
    if param.integer:
        return trial.suggest_int(param.key, int(param.low), int(param.high), log=param.log)
    return trial.suggest_float(param.key, float(param.low), float(param.high), log=param.log)


def objective_value(run_dir: Path, metric: str) -> float | None:
    """The metric's value in the last metrics row that has it (None if absent or not finite)."""
    path = run_dir / "metrics.jsonl"
    rows = read_metrics(path) if path.exists() else []
    values = [r[metric] for r in rows if r.get(metric) is not None]
    return float(values[-1]) if values and math.isfinite(values[-1]) else None


def make_study(search: OptunaSearch, name: str, sweep_dir: Path):
    import optuna

    sampler = (optuna.samplers.TPESampler(seed=search.seed) if search.sampler == "tpe"
               else optuna.samplers.RandomSampler(seed=search.seed))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(study_name=name, direction=search.direction, sampler=sampler,
                               storage=f"sqlite:///{sweep_dir / 'optuna.db'}", load_if_exists=True)


def run_search(spec: SweepSpec, extra: Sequence[str], *, dry_run: bool = False,
               parallel: int | None = None) -> int:
    """Run `spec.optuna.n_trials` trials; print and return 0 with the best found (1 if none finished)."""
    search = spec.optuna
    assert search is not None
    (base,) = _single_base(spec, extra)
    # the range ends must compose and validate before any trial is launched
    for end in ("low", "high"):
        prepare_points(spec.name, [[*base, *(f"{p.key}={format_value(_end(p, end))}" for p in search.params)]])
    print(f"rlx: optuna search {spec.name}: {search.n_trials} trials of {search.metric} ({search.direction}), "
          f"{search.batch} at a time over {', '.join(p.key for p in search.params)}")
    if dry_run:
        return 0
    first = prepare_points(spec.name, [base], spec.array_parallelism)
    registry = new_sweep(spec.name, first, spec.path)
    study = make_study(search, spec.name, Path(registry.sweep_dir))
    print(f"rlx: sweep directory {registry.sweep_dir}")
    done = 0
    while done < search.n_trials:
        trials = [study.ask() for _ in range(min(search.batch, search.n_trials - done))]
        params = [{p.key: suggest(t, p) for p in search.params} for t in trials]
        points = prepare_points(spec.name, [[*base, *(f"{k}={format_value(v)}" for k, v in ps.items())]
                                            for ps in params], spec.array_parallelism)
        records = add_points(registry, points, params)
        launch_points(registry, records, points[0].config, parallel or search.batch)
        wait_for(registry, records)
        for trial, record in zip(trials, records):
            record.value = objective_value(Path(record.run_dir), search.metric)
            if record.value is None:
                import optuna

                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, record.value)
            print(f"rlx: trial {record.point:03d} {record.params} -> {search.metric} = {record.value}")
        registry.save()
        done += len(trials)
    finished = [r for r in registry.points if r.value is not None]
    if not finished:
        print(f"rlx: no trial reported {search.metric}; see python -m rlx.status {registry.sweep_dir}")
        return 1
    best = study.best_trial
    print(f"rlx: best {search.metric} = {best.value} with {best.params} "
          f"(point {best.number:03d}, {registry.sweep_dir})")
    return 0


def _single_base(spec: SweepSpec, extra: Sequence[str]) -> list[list[str]]:
    bases = expand(spec, extra)
    if len(bases) != 1:
        raise ConfigError([f"{spec.path}: an optuna sweep searches one base config: give `overrides` "
                           "but no `points` or `grid`"])
    return bases


def _end(param: SearchParam, end: str) -> Any:
    if param.choices is not None:
        return param.choices[0 if end == "low" else -1]
    value = getattr(param, end)
    return int(value) if param.integer else value


def wait_for(registry: Registry, records: Sequence[PointRecord]) -> None:
    """Block until every record is done or failed (local runs have finished already)."""
    from rlx.status import point_state, slurm_states

    while True:
        slurm = slurm_states(r.job_id for r in records if r.job_id)
        states = [point_state(Path(r.run_dir), r.job_id, slurm).state for r in records]
        if all(s in ("done", "failed") for s in states):
            return
        time.sleep(POLL_S)
