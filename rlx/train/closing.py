"""What a finished run prints last: its evaluation before and after training, where its
learning-curve PNGs are (drawn by `rlx.compare`), and the commands that compare estimators
on the same setup."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from rlx.compare import DEFAULT_METRICS, group_runs, load_run, plot_curves

CURVES_DIR = "curves"
ESTIMATOR_SWEEP = "sweeps/default_estimators.yaml"
# overrides the estimator sweep sets itself (its points and seeds), left out of the hint
SWEEP_SETS = ("advantage", "seed", "loss.policy.agg", "loss.policy.norm_len", "resume", "experiment_name")


def write_curves(run_dir: Path, metrics: Sequence[str] = DEFAULT_METRICS) -> list[Path]:
    """One PNG per metric with values in the run's metrics.jsonl, under `run_dir/curves/`."""
    run = load_run(run_dir)
    groups = group_runs([run], [])
    return [p for p in (plot_curves(groups, m, run_dir / CURVES_DIR) for m in metrics if run.curve(m)) if p]


def eval_summary(run_dir: Path) -> str | None:
    """"eval pass@1 0.281 (before, step 0) -> 0.500 (after, step 8)" or None without evaluations."""
    curve = load_run(run_dir).curve("eval/pass@1")
    if not curve:
        return None
    (first_step, first), (last_step, last) = curve[0], curve[-1]
    if len(curve) == 1:
        return f"eval pass@1 {last:.3f} (step {last_step})"
    return f"eval pass@1 {first:.3f} (step {first_step}) -> {last:.3f} (step {last_step})"


def sweep_overrides(overrides: Sequence[str]) -> list[str]:
    """The run's command-line overrides without those the estimator sweep sets per point."""
    def key(override: str) -> str:
        return override.split("=", 1)[0].lstrip("+~")

    return [o for o in overrides if key(o) not in SWEEP_SETS]


def closing_note(run_dir: Path, overrides: Sequence[str], runs_root: str) -> str:
    """The lines a finished run prints: before/after evaluation, curve PNGs, estimator comparison."""
    run_dir = Path(run_dir)
    lines = []
    summary = eval_summary(run_dir)
    if summary:
        lines.append(f"rlx: {summary}")
    curves = write_curves(run_dir)
    if curves:
        lines.append("rlx: learning curves: " + ", ".join(map(str, curves)))
    extra = " ".join(shlex.quote(o) for o in sweep_overrides(overrides))
    sweep_dir = Path(runs_root) / "sweeps" / Path(ESTIMATOR_SWEEP).stem
    lines += [
        "rlx: compare estimators (GRPO, Dr. GRPO, RLOO; 3 seeds each) on this setup:",
        f"  python launch.py --sweep {ESTIMATOR_SWEEP}{' ' + extra if extra else ''}",
        f"  python -m rlx.compare {sweep_dir}/<timestamp> --by advantage",
    ]
    return "\n".join(lines)
