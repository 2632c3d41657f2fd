"""Compose the Hydra config outside `@hydra.main`, and explain bad overrides.

`check_overrides` looks at each command-line override before Hydra does, so a typo in a
group choice or a key fails with the valid choices and a close match, e.g.
`advantage=gpro` -> 'unknown advantage "gpro" (did you mean "grpo"?); choices: ...'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlx.config.validate import ConfigError, did_you_mean

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def group_names(conf_dir: Path = CONF_DIR) -> list[str]:
    """Config groups: the sub-directories of conf/ (nested groups as a/b)."""
    return sorted(
        str(p.relative_to(conf_dir)) for p in conf_dir.rglob("*") if p.is_dir() and "__" not in p.name
    )


def group_choices(group: str, conf_dir: Path = CONF_DIR) -> list[str]:
    """The choices of a config group: its YAML file names without the suffix."""
    return sorted(p.stem for p in (conf_dir / group).glob("*.yaml"))


def compose(overrides: Sequence[str] = (), conf_dir: Path = CONF_DIR,
            return_hydra_config: bool = False) -> DictConfig:
    """The composed (unresolved) config for `overrides`, as `python launch.py OVERRIDES` sees it
    (with Hydra's own node, e.g. `hydra.runtime.choices`, when `return_hydra_config`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides),
                             return_hydra_config=return_hydra_config)


def chosen_groups(overrides: Sequence[str], conf_dir: Path = CONF_DIR) -> dict[str, Any]:
    """The config-group choices `overrides` lead to, e.g. {"advantage": "grpo", ...}."""
    choices = compose(overrides, conf_dir, return_hydra_config=True).hydra.runtime.choices
    return {k: v for k, v in choices.items() if not str(k).startswith("hydra")}


def _split_override(arg: str) -> tuple[str, str, str]:
    """'++a.b=1' -> ('++', 'a.b', '1')."""
    prefix = ""
    for p in ("++", "+", "~"):
        if arg.startswith(p):
            prefix, arg = p, arg[len(p) :]
            break
    key, _, value = arg.partition("=")
    return prefix, key.strip(), value.strip()


def _choice_values(value: str) -> list[str]:
    """Choices named by an override value: 'a', '[a,b]', or a sweep 'a,b'."""
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return [v.strip() for v in value.split(",") if v.strip() and v.strip() != "null"]


def user_overrides(argv: Sequence[str]) -> list[str]:
    """The plain overrides in argv: no flags, no hydra.* settings."""
    out = []
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
            continue
        if arg.startswith("-"):
            skip_next = arg in ("--cfg", "-c", "--package", "-p", "--config-path", "-cp",
                                "--config-name", "-cn", "--config-dir", "-cd", "--info", "-i")
            skip_next = skip_next and "=" not in arg
            continue
        if "=" not in arg or _split_override(arg)[1].startswith(("hydra.", "hydra/")):
            continue
        out.append(arg)
    return out


def check_overrides(overrides: Sequence[str], conf_dir: Path = CONF_DIR) -> DictConfig:
    """Compose `overrides`, raising `ConfigError` with choices and close matches on a typo.

    Sweep values (`a,b`) are checked choice by choice; the config is composed with the first.
    """
    groups = group_names(conf_dir)
    problems: list[str] = []
    plain: list[str] = []
    for arg in overrides:
        prefix, key, value = _split_override(arg)
        group = key.partition("@")[0]  # 'advantage@advantage.base': a group default nested in a config
        if key in groups or (group in groups and "@" in key):
            choices = group_choices(group, conf_dir)
            for v in _choice_values(value):
                if v not in choices:
                    problems.append(
                        f'{key}={v}: unknown {group} "{v}"{did_you_mean(v, choices)}; '
                        f"choices: {', '.join(choices)}"
                    )
            first = _choice_values(value)[:1]
            multi = value.startswith("[")
            plain.append(f"{prefix}{key}={value if multi else (first[0] if first else value)}")
        else:
            sweep = "," in value and not value.startswith(("[", "{", "'", '"'))
            plain.append(f"{prefix}{key}={value.split(',')[0] if sweep else value}")
    if problems:
        raise ConfigError(problems)
    group_only = [a for a in plain if _split_override(a)[1] in groups or "@" in _split_override(a)[1]]
    composed = compose(group_only, conf_dir, return_hydra_config=True)
    nested = _nested_group_defaults(composed.hydra.runtime.choices)
    base = OmegaConf.to_container(composed, resolve=False)
    base.pop("hydra", None)
    for arg in plain:
        prefix, key, value = _split_override(arg)
        if key in groups or prefix in ("+", "++") or "@" in key:
            continue
        if key in nested:
            problems.append(f"{key}={value}: {key} is a choice of the {nested[key]} group; "
                            f"choose it with {nested[key]}@{key}={value}")
            continue
        missing = _missing_key(base, key)
        if missing:
            problems.append(missing)
    if problems:
        raise ConfigError(problems)
    try:
        return compose(plain, conf_dir)
    except Exception as err:  # Hydra's own message is specific enough here
        raise ConfigError([str(err).strip()]) from err


def _nested_group_defaults(choices: Mapping[str, Any]) -> dict[str, str]:
    """{package: group} of the group defaults placed inside another config, e.g. SALT's
    base estimator: {"advantage.base": "advantage"} from the choice key 'advantage@advantage.base'."""
    out = {}
    for name in choices:
        group, at, package = str(name).partition("@")
        if at and not group.startswith("hydra"):
            out[package] = group
    return out


def _missing_key(cfg: Any, dotted: str) -> str | None:
    node: Any = cfg
    walked: list[str] = []
    for part in dotted.split("."):
        if isinstance(node, Mapping):
            if part not in node:
                where = ".".join(walked) or "the top level"
                keys = [str(k) for k in node if not str(k).startswith("_")]
                return (
                    f"{dotted}: no key '{part}' in {where}{did_you_mean(part, keys)}; "
                    f"valid keys: {', '.join(keys)} (use +{dotted}=... to add a new key)"
                )
            node = node[part]
        else:
            return None
        walked.append(part)
    return None
