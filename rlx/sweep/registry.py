"""The sweep registry, `<sweep_dir>/registry.json`: point -> overrides -> job id -> run dir -> W&B run id.

Written atomically whenever it changes, so `python -m rlx.status SWEEP_DIR` can read it at any time.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlx.utils.files import write_text_atomic

REGISTRY_FILE = "registry.json"


@dataclass
class PointRecord:
    point: int
    overrides: list[str]
    run_dir: str
    job_id: str | None = None
    wandb_run_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # Optuna trial parameters
    value: float | None = None  # Optuna objective, once known


@dataclass
class Registry:
    name: str
    sweep_dir: str
    launcher: str
    created: str
    spec: str | None = None
    points: list[PointRecord] = field(default_factory=list)

    def save(self) -> None:
        write_text_atomic(Path(self.sweep_dir) / REGISTRY_FILE, json.dumps(asdict(self), indent=2))


def load_registry(sweep_dir: str | Path) -> Registry:
    path = Path(sweep_dir) / REGISTRY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{sweep_dir} is not a sweep directory (no {REGISTRY_FILE}); "
                                "sweeps are made by `python -m rlx.sweep sweeps/NAME.yaml`")
    raw = json.loads(path.read_text())
    points = [PointRecord(**p) for p in raw.pop("points")]
    return Registry(**raw, points=points)
