"""Sweep files: `sweeps/NAME.yaml`, a grid (and/or explicit variants) of launch.py overrides.

    name: grpo_vs_gigpo_alfworld        # sweep directory and W&B group
    overrides: [experiment=gigpo_alfworld, iterations=50]   # every point
    points:                             # explicit variants, each a list of overrides
      - [advantage=grpo]
      - [advantage=gigpo]
    grid:                               # cartesian product, crossed with `points`
      seed: [0, 1, 2]
    array_parallelism: 4                # at most this many points at once (SLURM array, local)
    optuna:                             # optional: search continuous ranges instead of a grid
      metric: eval/pass@1
      direction: maximize               # maximize | minimize
      n_trials: 16
      batch: 4                          # trials launched together per round
      sampler: tpe                      # tpe | random
      params:
        trainer.lr: {low: 1.0e-6, high: 1.0e-4, log: true}
        trainer.group_size: {choices: [4, 8]}
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from rlx.config.validate import ConfigError, did_you_mean


@dataclass(frozen=True)
class SearchParam:
    """One Optuna search dimension: a float/int range (`low`, `high`, `log`) or `choices`."""

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None
    integer: bool = False


@dataclass(frozen=True)
class OptunaSearch:
    metric: str
    direction: Literal["maximize", "minimize"] = "maximize"
    n_trials: int = 8
    batch: int = 1
    sampler: Literal["tpe", "random"] = "tpe"
    seed: int = 0
    params: tuple[SearchParam, ...] = ()


@dataclass(frozen=True)
class SweepSpec:
    name: str
    overrides: tuple[str, ...] = ()
    points: tuple[tuple[str, ...], ...] = ()
    grid: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    array_parallelism: int = 0  # 0: no limit
    optuna: OptunaSearch | None = None
    path: Path | None = None


SPEC_KEYS = ("name", "overrides", "points", "grid", "array_parallelism", "optuna")
OPTUNA_KEYS = ("metric", "direction", "n_trials", "batch", "sampler", "seed", "params")


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check a sweep file; `ConfigError` names the bad key and the valid ones."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"sweep file {path} not found"])
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:  # e.g. an unquoted `reward=[a,b]` inside a [...] list
        raise ConfigError([f"{path} is not valid YAML (quote overrides holding [ ] or , ): {err}"]) from None
    if not isinstance(raw, Mapping):
        raise ConfigError([f"{path}: a sweep file is a mapping with keys {', '.join(SPEC_KEYS)}"])
    _unknown_keys(raw, SPEC_KEYS, str(path))
    grid = raw.get("grid") or {}
    if not isinstance(grid, Mapping):
        raise ConfigError([f"{path}: grid must map a config key to a list of values"])
    points = raw.get("points") or []
    if not isinstance(points, list) or not all(isinstance(p, list) for p in points):
        raise ConfigError([f"{path}: points must be a list of override lists, e.g. - [advantage=grpo]"])
    return SweepSpec(
        name=str(raw.get("name") or path.stem),
        overrides=tuple(str(o) for o in raw.get("overrides") or ()),
        points=tuple(tuple(str(o) for o in p) for p in points),
        grid={str(k): tuple(v) if isinstance(v, list) else (v,) for k, v in grid.items()},
        array_parallelism=int(raw.get("array_parallelism") or 0),
        optuna=_optuna(raw["optuna"], path) if raw.get("optuna") else None,
        path=path.resolve(),
    )


def _optuna(raw: Any, path: Path) -> OptunaSearch:
    where = f"{path}: optuna"
    if not isinstance(raw, Mapping) or "metric" not in raw:
        raise ConfigError([f"{where} needs at least `metric` and `params`"])
    _unknown_keys(raw, OPTUNA_KEYS, where)
    params = []
    for key, dim in (raw.get("params") or {}).items():
        if not isinstance(dim, Mapping) or not ({"low", "high"} <= set(dim) or "choices" in dim):
            raise ConfigError([f"{where}.params.{key}: give {{low, high[, log, int]}} or {{choices: [...]}}"])
        _unknown_keys(dim, ("low", "high", "log", "int", "choices"), f"{where}.params.{key}")
        params.append(SearchParam(
            key=str(key), low=dim.get("low"), high=dim.get("high"), log=bool(dim.get("log", False)),
            choices=tuple(dim["choices"]) if "choices" in dim else None, integer=bool(dim.get("int", False)),
        ))
    if not params:
        raise ConfigError([f"{where}.params: no search dimensions"])
    search = OptunaSearch(metric=str(raw["metric"]), params=tuple(params),
                          **{k: raw[k] for k in ("direction", "n_trials", "batch", "sampler", "seed") if k in raw})
    if search.direction not in ("maximize", "minimize") or search.sampler not in ("tpe", "random"):
        raise ConfigError([f"{where}: direction is maximize|minimize, sampler is tpe|random"])
    return search


def _unknown_keys(raw: Mapping, valid: Sequence[str], where: str) -> None:
    bad = [k for k in raw if k not in valid]
    if bad:
        raise ConfigError([f"{where}: unknown key {k!r}{did_you_mean(str(k), list(valid))}; "
                           f"valid keys: {', '.join(valid)}" for k in bad])


def format_value(value: Any) -> str:
    """A YAML value as a Hydra override value (lists as [a,b], None as null)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value)


def expand(spec: SweepSpec, extra: Sequence[str] = ()) -> list[list[str]]:
    """Every point's full override list: shared overrides, then the variant, then grid values,
    then the command line's `extra` overrides (last wins)."""
    variants = [list(p) for p in spec.points] or [[]]
    keys = list(spec.grid)
    combos = list(itertools.product(*(spec.grid[k] for k in keys))) or [()]
    return [
        [*spec.overrides, *variant, *(f"{k}={format_value(v)}" for k, v in zip(keys, combo)), *extra]
        for variant in variants for combo in combos
    ]
