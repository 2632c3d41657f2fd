"""The run-level scalars at the top of conf/config.yaml (everything else is a component node)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunSettings:
    experiment_name: str
    seed: int
    iterations: int
    resume: str | None
    device: str
    runs_root: str
