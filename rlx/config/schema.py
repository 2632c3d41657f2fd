"""The run-level scalars at the top of conf/config.yaml (everything else is a component node)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from rlx.config.types import Range


@dataclass(frozen=True)
class RunSettings:
    experiment_name: str
    seed: int
    iterations: Annotated[int, Range(ge=1)]
    resume: str | None
    device: str
    runs_root: str
