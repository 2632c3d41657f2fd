"""Check a composed config against the signatures it selects, before anything runs.

Every node with a `_target_` is bound against the target's signature: unknown keys are
named with the valid keys (and a close match), values are checked against the type
annotations (`int`, `float`, `str`, `bool`, `Literal[...]`, `X | None`, `list[X]`,
`tuple[...]`, dataclasses, `DataPath`, `Annotated[X, Range(...)]`), paths marked `DataPath`
must exist and numbers marked `Range` must lie in its bounds. A target whose module defines
`missing_requirement()` (returning what to install, or None) is reported when that names
something missing (e.g. `rollout=vllm` without vLLM).
All problems are collected so the user sees them at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import os
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rlx.config.types import MustExist, Range

HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}


class ConfigError(ValueError):
    """A config that cannot run; the message lists every problem found."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid config ({len(self.problems)} problem(s)):\n{lines}")


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent
    transpositions each cost 1 (so "gpro" is 1 away from "grpo")."""
    prev2, prev = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """' (did you mean "x"?)' for the closest choice (fewest edits, then most similar), or ''."""
    word, options = str(word), [str(c) for c in choices]
    close = difflib.get_close_matches(word, options, n=len(options), cutoff=0.5)
    if not close:
        return ""
    best = min(close, key=lambda c: (edit_distance(word.lower(), c.lower()), close.index(c)))
    return f' (did you mean "{best}"?)'


def import_target(path: str) -> Any:
    """Import `pkg.module.attr` (attr may be nested: `module.Class.method`)."""
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError as err:
            if err.name and not ".".join(parts[:split]).startswith(err.name):
                raise  # the module exists but one of its own imports is missing
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return obj
    return importlib.import_module(path)


def validate(cfg: Mapping[str, Any], schema: type | None = None) -> None:
    """Raise `ConfigError` listing every problem in the resolved config `cfg` (a plain dict).

    `schema`: an optional dataclass describing the top-level scalars (keys of `cfg`
    that are not nodes with a `_target_`).
    """
    problems: list[str] = []
    if schema is not None:
        _check_schema_fields(cfg, schema, "", problems)
    _walk(cfg, "", problems)
    if problems:
        raise ConfigError(problems)


def _walk(node: Any, where: str, problems: list[str]) -> None:
    if isinstance(node, Mapping):
        if "_target_" in node:
            _check_target_node(node, where, problems)
            return
        for key, value in node.items():
            _walk(value, _join(where, key), problems)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, f"{where}[{i}]", problems)


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _check_target_node(node: Mapping[str, Any], where: str, problems: list[str]) -> None:
    target = node["_target_"]
    try:
        obj = import_target(target)
    except (ImportError, AttributeError) as err:
        problems.append(f"{where}._target_: cannot import '{target}' ({err})")
        return
    requirement = getattr(inspect.getmodule(obj), "missing_requirement", None)
    if callable(requirement) and (missing := requirement()):  # e.g. an optional package
        problems.append(f"{where}._target_: {missing}")
        return
    fn = obj.__init__ if inspect.isclass(obj) and not dataclasses.is_dataclass(obj) else obj
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable annotations: bind names only
        hints = {}
    accepts_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    names = [n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    for key, value in node.items():
        if key in HYDRA_KEYS:
            continue
        if key not in params:
            if not accepts_kwargs:
                problems.append(
                    f"{_join(where, key)}: unknown key for {target}{did_you_mean(key, names)}; "
                    f"valid keys: {', '.join(names)}"
                )
            continue
        _check_value(value, hints.get(key, Any), _join(where, key), problems)
    if not node.get("_partial_", False):
        for name, p in params.items():
            if (
                p.default is p.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                and name not in node
            ):
                problems.append(f"{_join(where, name)}: missing required key for {target}")


def _check_schema_fields(cfg: Mapping[str, Any], schema: type, where: str, problems: list) -> None:
    hints = typing.get_type_hints(schema, include_extras=True)
    for f in dataclasses.fields(schema):
        if f.name not in cfg:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(f"{_join(where, f.name)}: missing required key")
            continue
        _check_value(cfg[f.name], hints[f.name], _join(where, f.name), problems)


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if typing.get_origin(tp) is typing.Literal:  # e.g. 'one of auto'
        return "one of " + "|".join(str(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check_value(value: Any, tp: Any, where: str, problems: list[str]) -> None:
    """Append a problem when `value` does not fit annotation `tp`."""
    if value == "???":
        hint = next((f" {m.what}: {m.how}" for m in typing.get_args(tp)[1:] if isinstance(m, MustExist)), "")
        problems.append(f"{where}: missing value (set it on the command line: {where}=...).{hint}")
        return
    problem = _mismatch(value, tp, where, problems)
    if problem:
        problems.append(f"{where}: {problem}")


def _mismatch(value: Any, tp: Any, where: str, problems: list[str]) -> str | None:  # noqa: C901
    """Return a description of why `value` does not fit `tp`, or None."""
    if tp is Any or tp is inspect.Parameter.empty:
        if isinstance(value, Mapping) and "_target_" in value:
            _check_target_node(value, where, problems)
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        inner, *meta = args
        problem = _mismatch(value, inner, where, problems)
        if problem is None and value is not None:
            for m in meta:
                if isinstance(m, MustExist):
                    problem = _missing_path(value, m)
                elif isinstance(m, Range) and isinstance(value, (int, float)) \
                        and not isinstance(value, bool):
                    problem = m.problem(value)
                if problem is not None:
                    break
        return problem
    if isinstance(value, Mapping) and "_target_" in value:
        _check_target_node(value, where, problems)  # a nested component: its own schema rules
        return None
    if origin is typing.Literal:
        if value in args:
            return None
        return f"{value!r} is not one of {list(args)}{did_you_mean(value, [str(a) for a in args])}"
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        sub = [a for a in args if a is not type(None)]
        if len(sub) == 1:  # Optional[X]: X's own message is the useful one
            return _mismatch(value, sub[0], where, problems)
        failures = [_mismatch(value, a, where, []) for a in sub]
        if any(f is None for f in failures):
            for a in sub:  # re-run the first match to report nested problems
                if _mismatch(value, a, where, []) is None:
                    _mismatch(value, a, where, problems)
                    break
            return None
        return f"expected {' or '.join(_type_name(a) for a in args)}, got {value!r} ({_type_name(type(value))})"
    if value is None:
        return f"expected {_type_name(tp)}, got null"
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"expected a float, got {value!r} ({_type_name(type(value))})"
    if tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"expected an int, got {value!r} ({_type_name(type(value))})"
    if tp is bool:
        return None if isinstance(value, bool) else f"expected true/false, got {value!r}"
    if tp is str:
        return None if isinstance(value, str) else f"expected a string, got {value!r}"
    if tp in (Path, os.PathLike):
        return None if isinstance(value, str) else f"expected a path string, got {value!r}"
    if origin in (list, tuple, Sequence, typing.Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return f"expected a list, got {value!r}"
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                return f"expected {len(args)} items, got {len(value)}"
            for i, (v, a) in enumerate(zip(value, args)):
                _check_value(v, a, f"{where}[{i}]", problems)
        elif args:
            for i, v in enumerate(value):
                _check_value(v, args[0], f"{where}[{i}]", problems)
        return None
    if origin in (dict, Mapping) or tp is dict:
        return None if isinstance(value, Mapping) else f"expected a mapping, got {value!r}"
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            return f"expected a mapping for {tp.__name__}, got {value!r}"
        names = [f.name for f in dataclasses.fields(tp)]
        for key in value:
            if key not in names and key not in HYDRA_KEYS:
                problems.append(
                    f"{_join(where, key)}: unknown key for {tp.__name__}{did_you_mean(key, names)}; "
                    f"valid keys: {', '.join(names)}"
                )
        _check_schema_fields({k: v for k, v in value.items() if k in names}, tp, where, problems)
        return None
    if origin is Callable or tp is Callable or origin is typing.Callable:
        return None
    return None  # a type we do not know how to check from YAML: accept


def _missing_path(value: str, marker: MustExist) -> str | None:
    path = Path(os.path.expanduser(str(value)))
    if path.exists():
        return None
    looks_like_hub_id = value.count("/") == 1 and not value.startswith((".", "/", "~"))
    if marker.allow_hub_id and looks_like_hub_id:
        return None
    how = f" {marker.how}" if marker.how else ""
    return f"{marker.what} not found at '{value}'.{how}"
