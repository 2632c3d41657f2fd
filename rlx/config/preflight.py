"""Dry-build what is cheap to build, before a run directory (or a W&B run) exists.

`validate` checks a config against the signatures it selects; some problems only show when
a component is built (a constructor's own argument checks, a data folder without games).
`preflight(config)` finds those without loading a model or a data set, so every problem
still prints as `rlx: invalid config` naming the key, and nothing is left behind:

- a `_target_` whose object has a `preflight` callable (a classmethod or staticmethod taking
  the node's config keys) gets it called with the node's keys; nested component nodes are
  passed as their config mappings (they are checked on their own). A component implements
  it for checks that are cheap but need more than types: `OfficialGames` looks for one
  playable game per split, `OfficialCatalogue` for its files, `AlfWorldEnv` for its package.
  Its constructor runs the same checks, so there is one source for each rule.
- otherwise a node that is not `_partial_` and whose target is a dataclass (a settings
  object: `TrainerSettings`, `AgentSettings`, `Objective`...) is constructed, when every
  component nested in it is a dataclass or `_partial_` too (constructing a dataclass runs
  only its `__post_init__` checks, never a load).
- anything else (model builders, engines that take the model at run time, environments that
  load their data) is left to the signature checks, the `Range` / `Literal` annotations and
  its `preflight` hook, if it has one.

A `ValueError`, `TypeError`, `OSError` (missing files) or `ImportError` (a missing optional
package) raised there becomes one problem `<key>: <message>`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from hydra.utils import instantiate

from rlx.config.validate import HYDRA_KEYS, ConfigError, import_target

CHECK_ERRORS = (ValueError, TypeError, OSError, ImportError)


def preflight(config: Mapping[str, Any]) -> None:
    """Raise `ConfigError` listing what the components' own checks refuse (module docstring)."""
    problems: list[str] = []
    _walk(config, "", problems)
    if problems:
        raise ConfigError(problems)


def root_cause(err: BaseException) -> BaseException:
    """The innermost cause of a chain (Hydra wraps a constructor's error in its own)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def _walk(node: Any, where: str, problems: list[str]) -> None:
    if isinstance(node, Mapping):
        if "_target_" in node and _check_node(node, where, problems):
            return  # built whole: its nested nodes were built with it
        for key, value in node.items():
            if key not in HYDRA_KEYS:
                _walk(value, f"{where}.{key}" if where else str(key), problems)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, f"{where}[{i}]", problems)


def _check_node(node: Mapping[str, Any], where: str, problems: list[str]) -> bool:
    """Run the node's check; True when the node was constructed (children included)."""
    try:
        target = import_target(node["_target_"])
    except (ImportError, AttributeError):
        return True  # validate() has named it already
    hook = getattr(target, "preflight", None)
    built = False
    try:
        if callable(hook):
            hook(**{k: v for k, v in node.items() if k not in HYDRA_KEYS})
        elif _cheap(node):
            instantiate(dict(node), _convert_="all")
            built = True
    except Exception as err:  # noqa: BLE001 - filtered just below
        cause = root_cause(err)
        if not isinstance(cause, CHECK_ERRORS):
            raise
        problems.append(f"{where}: {cause}")
        return not callable(hook)  # a failed build covers its children; a hook does not
    return built


def _cheap(node: Any, nested: bool = False) -> bool:
    """A dataclass node (not partial) whose nested components are dataclasses or partial."""
    if isinstance(node, list):
        return all(_cheap(v, True) for v in node)
    if not isinstance(node, Mapping):
        return True
    if "_target_" in node:
        if node.get("_partial_", False):
            return nested
        try:
            target = import_target(node["_target_"])
        except (ImportError, AttributeError):
            return False
        if not (dataclasses.is_dataclass(target) and isinstance(target, type)):
            return False
    return all(_cheap(v, True) for k, v in node.items() if k not in HYDRA_KEYS)
