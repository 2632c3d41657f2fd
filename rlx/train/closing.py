"""What a finished run prints last: its evaluation before and after training, where its
learning-curve PNGs are (drawn by `rlx.compare`), and the commands that compare estimators
on the same setup."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from rlx.compare import DEFAULT_METRICS, group_runs, load_run, plot_curves

CURVES_DIR = "curves"
ESTIMATOR_SWEEP = "sweeps/default_estimators.yaml"  # single-turn runs: GRPO, Dr. GRPO, RLOO
AGENT_SWEEP = "sweeps/agent_estimators.yaml"  # multi-turn runs: GRPO vs GiGPO
# overrides the estimator sweeps set themselves (their points and seeds), left out of the hint
SWEEP_SETS = ("advantage", "seed", "loss.policy.agg", "loss.policy.norm_len", "agent.sample_mode", "resume",
              "experiment_name")


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


def closing_note(run_dir: Path, overrides: Sequence[str], runs_root: str, multi_turn: bool = False) -> str:
    """The lines a finished run prints: before/after evaluation, curve PNGs, estimator comparison
    (`multi_turn`: an agent environment, where the comparison is GRPO vs the step-level GiGPO)."""
    run_dir = Path(run_dir)
    lines = []
    summary = eval_summary(run_dir)
    if summary:
        lines.append(f"rlx: {summary}")
    curves = write_curves(run_dir)
    if curves:
        lines.append("rlx: learning curves: " + ", ".join(map(str, curves)))
    lines += compare_lines(overrides, runs_root, multi_turn)
    return "\n".join(lines)


def compare_lines(overrides: Sequence[str], runs_root: str, multi_turn: bool = False) -> list[str]:
    """The two commands that run the estimator sweep on the run's setup and compare its curves."""
    extra = " ".join(shlex.quote(o) for o in sweep_overrides(overrides))
    sweep = AGENT_SWEEP if multi_turn else ESTIMATOR_SWEEP
    which = "GRPO vs GiGPO" if multi_turn else "GRPO, Dr. GRPO, RLOO"
    sweep_dir = Path(runs_root) / "sweeps" / Path(sweep).stem
    return [
        f"rlx: compare estimators ({which}; 3 seeds each) on this setup:",
        f"  python launch.py --sweep {sweep}{' ' + extra if extra else ''}",
        f"  python -m rlx.compare {sweep_dir}/<timestamp> --by advantage",
    ]
