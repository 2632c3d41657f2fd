"""Weights & Biases logging (offline by default; `wandb sync` uploads later)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from rlx.logging.base import flatten

RUN_ID_FILE = "wandb_run_id.txt"


class WandbLogger:
    """One W&B run per rlx run directory; a resumed run continues the same W&B run.

    `run_dir`, `run_config` (resolved, nested) and `tags` (from the chosen config groups) are given
    by the trainer; the rest are config keys. The run id is stored in `<run_dir>/wandb_run_id.txt`.
    """

    def __init__(
        self,
        run_dir: Path,
        run_config: Mapping[str, Any],
        tags: Sequence[str],
        *,
        mode: Literal["offline", "online", "disabled"] = "offline",
        project: str = "rlx",
        entity: str | None = None,
        group: str | None = None,
        job_type: str = "train",
        tags_extra: Sequence[str] = (),
    ):
        import wandb

        run_id = run_id_for(run_dir)
        os.environ.setdefault("WANDB_SILENT", "true")
        self.run = wandb.init(
            project=project,
            entity=entity,
            group=group,
            job_type=job_type,
            tags=sorted({*tags, *tags_extra})[:64],
            config=flatten(run_config),
            dir=str(run_dir),
            mode=mode,
            id=run_id,
            resume="allow",
            name=f"{Path(run_dir).parent.name}/{Path(run_dir).name}",
            settings=wandb.Settings(console="off", x_disable_stats=True),
        )

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self.run.log(dict(metrics), step=step)

    def finish(self) -> None:
        self.run.finish()


def run_id_for(run_dir: Path) -> str:
    """The run directory's W&B run id: the stored one, or a new one, stored now (a resumed run,
    and a sweep point whose id was fixed when the sweep was made, keep theirs)."""
    id_file = Path(run_dir) / RUN_ID_FILE
    if id_file.exists():
        return id_file.read_text().strip()
    run_id = uuid.uuid4().hex[:12]
    id_file.write_text(run_id)
    return run_id
