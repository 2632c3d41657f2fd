"""What `launch.py` does once Hydra has composed the config."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rlx.config.compose import CONF_DIR, _split_override, check_overrides, user_overrides
from rlx.config.preflight import preflight, root_cause
from rlx.config.schema import RunSettings
from rlx.config.validate import ConfigError, validate
from rlx.logging.base import flatten
from rlx.run_dir import latest_run_dir, new_run_dir, read_config, record_resume, write_run_files

# keys that may differ between a run and its resumption
RESUMABLE_CHANGES = ("resume", "iterations", "launcher", "logger")


def fail(err: Exception, code: int = 2) -> None:
    print(f"rlx: {err}", file=sys.stderr)
    sys.exit(code)


def precheck_argv(argv: Sequence[str]) -> None:
    """Catch typos in group choices and keys before Hydra starts (exit 2 with choices)."""
    if any(a in ("--help", "-h", "--hydra-help", "--version") for a in argv):
        return
    try:
        check_overrides(user_overrides(argv))
    except ConfigError as err:
        fail(err)


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data with interpolations resolved (hydra's own node excluded)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)  # type: ignore[return-value]


def validate_config(config: dict[str, Any]) -> None:
    """Signature/type/range/path checks, then the components' own checks where they are cheap
    (`rlx.config.preflight`: settings dataclasses built, `preflight` hooks called), then the
    launcher's, all before a run directory exists."""
    validate(config, RunSettings)
    preflight(config)
    try:
        instantiate(config["launcher"], _convert_="all")  # e.g. launcher.time_min=0, before any submission
    except Exception as err:
        cause = root_cause(err)
        raise ConfigError([f"launcher: {cause}"]) from err
    check_processes(config)
    check_sharding(config)
    check_rollout_correction(config)


def check_rollout_correction(config: dict[str, Any]) -> None:
    """`loss.rollout_correction` weighs tokens by the sampler's own log-probs: refuse it up front
    with an engine that does not report them (`reports_logprobs`, e.g. rollout=hf)."""
    from rlx.config.validate import import_target

    mode = config["loss"].get("rollout_correction")  # a custom loss may not have the key
    if mode in (None, "none"):
        return
    target = config["rollout"]["_target_"]
    if not getattr(import_target(target), "reports_logprobs", False):
        raise ConfigError([f"loss.rollout_correction={mode} needs the sampler's log-probs, which "
                           f"rollout ({target}) does not report; use rollout=vllm or "
                           "loss.rollout_correction=none"])


def check_sharding(config: dict[str, Any]) -> None:
    """FSDP shards the policy's weights: a curriculum that runs the policy itself (it takes a
    `model` argument, e.g. pcl) would see shards, so that pairing is refused up front."""
    import inspect

    from rlx.config.validate import import_target

    if config["trainer"].get("parallel") != "fsdp" or not config.get("curriculum"):
        return
    target = config["curriculum"]["_target_"]
    if "model" in inspect.signature(import_target(target)).parameters:
        raise ConfigError([f"curriculum ({target}) runs the policy model itself and does not support "
                           "trainer.parallel=fsdp; use trainer.parallel=ddp or another curriculum"])


def check_processes(config: dict[str, Any]) -> None:
    """A launcher that starts several training processes says how many (`world_size(config)`,
    which checks them against the machine); the iteration's tasks must split evenly over them."""
    from rlx.train.parallel import check_world_size

    launcher = instantiate(config["launcher"], _convert_="all")
    if not hasattr(launcher, "world_size"):
        return
    if "tasks_per_iter" not in config["trainer"]:  # trainer=sft: no rollout batch to split
        check_single_process(config, launcher)
        return
    try:
        check_world_size(config["trainer"]["tasks_per_iter"], launcher.world_size(config),
                         "the launcher's processes")
    except ValueError as err:
        raise ConfigError([str(err)]) from err


def check_single_process(config: dict[str, Any], launcher: Any) -> None:
    """SFT (`trainer=sft`) trains in one process."""
    try:
        processes = launcher.world_size(config)
    except ValueError as err:
        raise ConfigError([str(err)]) from err
    if processes > 1:
        raise ConfigError([f"trainer=sft trains in one process, but the launcher starts {processes}; "
                           "set launcher.nprocs=1"])


def resume_dir(config: dict[str, Any]) -> Path | None:
    """The run directory to continue for `resume=auto|PATH`, checked against the saved config."""
    if config["resume"] is None:
        return None
    if config["resume"] == "auto":
        found = latest_run_dir(config["runs_root"], config["experiment_name"])
        if found is None:
            print(f"rlx: resume=auto: no checkpoint under {config['runs_root']}/"
                  f"{config['experiment_name']}; starting a new run")
        return found
    path = Path(config["resume"]).expanduser().resolve()
    saved = read_config(path)
    differences = [
        k for k in sorted(set(saved) | set(config))
        if k not in RESUMABLE_CHANGES and saved.get(k) != config.get(k)
    ]
    if differences:
        raise ConfigError([
            f"resume={path}: the config differs from the saved run in {', '.join(differences)}; "
            "resume with the same settings, or start a new run without resume="
        ])
    return path


def launch(cfg: DictConfig, choices: dict[str, Any] | None = None, overrides: Sequence[str] | None = None):
    """Validate `cfg`, create (or reuse) the run directory and hand it to the launcher."""
    try:
        config, run_dir = prepare(cfg, choices, overrides)
    except (ConfigError, FileNotFoundError) as err:
        fail(err)
    note = quickstart_note(_command_line(overrides))
    if note:
        print(note, file=sys.stderr)
    return launch_prepared(config, run_dir)


def _command_line(overrides: Sequence[str] | None) -> list[str]:
    """The run's command-line overrides: `overrides`, or Hydra's when run under `@hydra.main`."""
    from hydra.core.hydra_config import HydraConfig

    if overrides is None and HydraConfig.initialized():
        return list(HydraConfig.get().overrides.task)
    return list(overrides or [])


def quickstart_note(overrides: Sequence[str], conf_dir: Path = CONF_DIR) -> str | None:
    """A line for `python launch.py env=X` without an experiment: the default run's experiment
    (quickstart) still sets its keys (iterations, length cap, lr, eval before/after; read from
    conf/experiment/quickstart.yaml) on top of the new environment's defaults, which is seldom
    what a user picking another task wants. None when it does not apply."""
    keys = {_split_override(o)[1] for o in overrides}
    if "experiment" in keys or "env" not in keys:
        return None
    path = conf_dir / "experiment" / "quickstart.yaml"
    node = OmegaConf.to_container(OmegaConf.load(path))
    node.pop("defaults", None)
    flat = flatten(node)
    settings = ", ".join(f"{k}={v}" for k, v in flat.items())
    return (f"rlx: note: no experiment= given, so the default run's experiment=quickstart still sets "
            f"{settings} ({path.relative_to(conf_dir.parent)}); add experiment=none for the plain "
            "group defaults")


def prepare(cfg: DictConfig, choices: dict[str, Any] | None = None,
            overrides: Sequence[str] | None = None) -> tuple[dict[str, Any], Path]:
    """Resolve and validate `cfg`, then make (or, on resume, reuse) its run directory."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized() and choices is None:
        choices = dict(HydraConfig.get().runtime.choices)
    overrides = _command_line(overrides)
    config = resolved(cfg)
    validate_config(config)
    run_dir = resume_dir(config)
    if run_dir is not None:
        record_resume(run_dir, config, overrides=overrides)
        return config, run_dir
    run_dir = _new_point_dir(config)
    write_run_files(run_dir, config, overrides=overrides, choices=choices or {})
    return config, run_dir


def launch_prepared(config: dict[str, Any], run_dir: Path):
    """Hand a run directory holding its config and manifest to the configured launcher."""
    print(f"rlx: run directory {run_dir}")
    return instantiate(config["launcher"], _convert_="all").launch(run_dir)


def _job_name() -> str | None:
    """In a Hydra multirun, each point gets its own sub-directory named by its job number."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized() and HydraConfig.get().mode.name == "MULTIRUN":
        return str(HydraConfig.get().job.num)
    return None


_MULTIRUN_PARENTS: dict[tuple[str, str, str], Path] = {}


def _new_point_dir(config: dict[str, Any]) -> Path:
    """A fresh run directory; the jobs of one Hydra multirun (run one after another in this
    process) share one timestamped parent, `<runs_root>/<experiment>/<stamp>/<job number>`, so
    `python -m rlx.status <parent>` lists them together (each job's own clock would split them)."""
    from hydra.core.hydra_config import HydraConfig

    job = _job_name()
    if job is None:
        return new_run_dir(config["runs_root"], config["experiment_name"])
    key = (str(HydraConfig.get().sweep.dir), str(config["runs_root"]), config["experiment_name"])
    parent = _MULTIRUN_PARENTS.get(key)
    if parent is None or (parent / job).exists():
        run_dir = new_run_dir(config["runs_root"], config["experiment_name"], job=job)
        _MULTIRUN_PARENTS[key] = run_dir.parent
        return run_dir
    (parent / job).mkdir()
    return (parent / job).resolve()
