"""Run small trainings through the same path as `launch.py` (compose -> validate -> run dir)."""

from __future__ import annotations

from pathlib import Path

from rlx.config.compose import check_overrides, chosen_groups
from rlx.launch import prepare
from rlx.logging.base import read_metrics
from rlx.train.recipe import run

# experiment=none: the plain group defaults, not the default run's quickstart choices (SmolLM2-sized)
TINY = ["experiment=none", "model=tiny", "logger=none", "trainer.eval_tasks=4"]


def train_run(tmp_path: Path, *overrides: str) -> tuple[Path, list[dict]]:
    """Train with `overrides` under tmp_path/runs; return the run dir and its metrics rows."""
    args = [*TINY, f"runs_root={tmp_path / 'runs'}", *overrides]
    _, run_dir = prepare(check_overrides(args), choices=chosen_groups(args), overrides=args)
    run(run_dir)
    return run_dir, read_metrics(run_dir / "metrics.jsonl")


def learning_metrics(rows: list[dict]) -> list[dict]:
    """Rows without wall-clock figures (those differ between identical runs)."""
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in rows]
