"""Metric sinks. The trainer logs a flat dict of namespaced metrics once per iteration."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol


class Logger(Protocol):
    def log(self, metrics: Mapping[str, float], step: int) -> None: ...

    def finish(self) -> None: ...


class NullLogger:
    """No external tracker (metrics.jsonl is still written by the trainer)."""

    def __init__(self, run_dir: Path, run_config: Mapping[str, Any], tags: Sequence[str]):
        pass

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        pass

    def finish(self) -> None:
        pass


class MetricsFile:
    """Appends `{"step": n, **metrics}` lines to `<run_dir>/metrics.jsonl`.

    On resume, lines with a step beyond the checkpoint being resumed are dropped first, so
    the file never holds an iteration twice.
    """

    def __init__(self, path: Path, resume_step: int = 0):
        self.path = path
        if path.exists():
            kept = [line for line in path.read_text().splitlines()
                    if line.strip() and json.loads(line)["step"] <= resume_step]
            path.write_text("".join(line + "\n" for line in kept))

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        row = {"step": step, **{k: _plain(v) for k, v in metrics.items()}}
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def finish(self) -> None:
        pass


def _plain(v: Any) -> Any:
    v = float(v) if hasattr(v, "__float__") and not isinstance(v, (int, bool)) else v
    return None if isinstance(v, float) and not math.isfinite(v) else v


def read_metrics(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: the form W&B filters and compares."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
