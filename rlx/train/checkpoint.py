"""Checkpoints: `<run_dir>/checkpoints/step_<n>/state.pt`, written to a temp dir and renamed.

A checkpoint holds everything a resumed run needs to continue exactly: the trainable
modules' weights, optimizer and scheduler state, RNG states, curriculum state and the step.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)
STATE_FILE = "state.pt"


def checkpoint_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_checkpoint(run_dir: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write `state` atomically as checkpoint `step`, keeping the newest `keep` checkpoints."""
    root = checkpoint_dir(run_dir)
    final = root / f"step_{step}"
    tmp = root / f".step_{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save(state, tmp / STATE_FILE)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    found = [p for p in checkpoint_dir(run_dir).glob("step_*") if (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name.split("_")[1]))


def load_latest(run_dir: Path) -> dict[str, Any] | None:
    """The newest loadable checkpoint's state (falling back past unreadable ones), or None."""
    for path in reversed(list_checkpoints(run_dir)):
        try:
            return torch.load(path / STATE_FILE, map_location="cpu", weights_only=False)
        except Exception as err:  # a truncated or corrupt file: try the previous one
            log.warning("checkpoint %s is unreadable (%s); trying the previous one", path, err)
    return None
