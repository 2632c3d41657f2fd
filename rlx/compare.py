"""`python -m rlx.compare RUN_OR_SWEEP_DIR ... [--by advantage] [--metric reward/mean]`.

Reads the local metrics of runs (a run directory, a sweep directory, or any directory holding
runs) and prints, per group of runs (grouped by config keys: a config-group name such as
`advantage`, or a dotted key such as `trainer.lr`), the final and best value of each metric as
mean +- std over the group's runs (usually seeds), then the config keys on which the runs differ.
Writes one PNG of learning curves per metric (mean over the group, +- std band) into --out.
Works offline: nothing is read from W&B.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlx.config.validate import did_you_mean
from rlx.logging.base import flatten, read_metrics
from rlx.run_dir import CONFIG_FILE, read_config, read_manifest
from rlx.run_status import read_status
from rlx.sweep.registry import REGISTRY_FILE, load_registry

DEFAULT_METRICS = ("reward/mean", "eval/pass@1")
IGNORED_KEYS = ("runs_root", "resume", "experiment_name")  # differ without changing the experiment
FAILED_STATES = ("failed", "interrupted")


@dataclass
class RunData:
    path: Path
    config: dict[str, Any]  # flattened
    choices: dict[str, Any]
    rows: list[dict[str, Any]]
    failed: str | None = None  # the error of a run whose status.json says failed / interrupted

    def key(self, name: str) -> Any:
        """A config-group choice (`advantage`) or a flattened config value (`trainer.lr`)."""
        if name in self.choices:
            return self.choices[name]
        if name in self.config:
            return self.config[name]
        raise KeyError(name)

    def curve(self, metric: str) -> list[tuple[int, float]]:
        return [(int(r["step"]), float(r[metric])) for r in self.rows
                if r.get(metric) is not None and math.isfinite(float(r[metric]))]


def find_runs(paths: Sequence[Path]) -> list[Path]:
    """Run directories named by `paths`: runs themselves, sweep points, or runs found below."""
    runs: list[Path] = []
    for path in paths:
        path = path.resolve()
        if (path / REGISTRY_FILE).exists():
            runs += [Path(p.run_dir) for p in load_registry(path).points]
        elif (path / CONFIG_FILE).exists():
            runs.append(path)
        else:
            runs += sorted(p.parent for p in path.glob(f"**/{CONFIG_FILE}"))
    if not runs:
        raise FileNotFoundError(f"no run directories (with {CONFIG_FILE}) in {', '.join(map(str, paths))}")
    return list(dict.fromkeys(runs))


def load_run(path: Path) -> RunData:
    metrics = path / "metrics.jsonl"
    status = read_status(path) or {}
    failed = None
    if status.get("state") in FAILED_STATES:
        failed = (str(status.get("error") or status["state"]).strip().splitlines() or ["failed"])[0][:160]
    return RunData(path, flatten(read_config(path)), read_manifest(path).get("choices", {}) or {},
                   read_metrics(metrics) if metrics.exists() else [], failed)


def differing_keys(runs: Sequence[RunData]) -> dict[str, list[Any]]:
    """Config keys whose value is not the same in every run: choice names first, then the
    flattened keys not explained by a differing choice (e.g. `advantage`, not `advantage._target_`)."""
    out: dict[str, list[Any]] = {}
    choice_names = sorted({k for r in runs for k in r.choices})
    for name in choice_names:
        values = [r.choices.get(name) for r in runs]
        if len({repr(v) for v in values}) > 1:
            out[name] = values
    for key in sorted({k for r in runs for k in r.config}):
        if key.split(".")[0] in out or key in IGNORED_KEYS:
            continue
        values = [r.config.get(key) for r in runs]
        if len({repr(v) for v in values}) > 1:
            out[key] = values
    return out


def group_runs(runs: Sequence[RunData], by: Sequence[str]) -> dict[str, list[RunData]]:
    """Runs grouped by the values of the `by` keys, e.g. {"advantage=grpo": [...], ...}."""
    groups: dict[str, list[RunData]] = {}
    for run in runs:
        try:
            label = " ".join(f"{k}={run.key(k)}" for k in by) or "all runs"
        except KeyError as err:
            known = sorted(run.choices) + sorted(run.config)
            raise KeyError(f"--by {err.args[0]}: not a config group or key of {run.path}"
                           f"{did_you_mean(str(err.args[0]), known)}; groups: {', '.join(sorted(run.choices))}") from None
        groups.setdefault(label, []).append(run)
    return groups


def mean_std(values: Sequence[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.fmean(values):.4g} +- {statistics.stdev(values):.2g}"


def summary_rows(groups: Mapping[str, list[RunData]], metrics: Sequence[str],
                 maximize: bool = True) -> list[list[str]]:
    """[group, runs, final and best of each metric] per group. Failed runs (status.json) are
    counted in the runs column ("3 (1 failed)") and left out of the statistics (their last value
    is not a final one); a group whose runs all failed shows "failed" instead of values."""
    rows = []
    for label, runs in groups.items():
        failed = sum(r.failed is not None for r in runs)
        row = [label, str(len(runs)) + (f" ({failed} failed)" if failed else "")]
        finished = [r for r in runs if r.failed is None]
        for metric in metrics:
            if not finished:
                row += ["failed", "failed"]
                continue
            curves = [c for c in (r.curve(metric) for r in finished) if c]
            row.append(mean_std([c[-1][1] for c in curves]))
            pick = max if maximize else min
            row.append(mean_std([pick(v for _, v in c) for c in curves]))
        rows.append(row)
    return rows


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def plot_curves(groups: Mapping[str, list[RunData]], metric: str, out: Path) -> Path | None:
    """One PNG: per group, the mean curve over its runs (aligned by step) with a +- std band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    drawn = False
    for label, runs in groups.items():
        by_step: dict[int, list[float]] = {}
        for run in runs:
            for step, value in run.curve(metric):
                by_step.setdefault(step, []).append(value)
        if not by_step:
            continue
        steps = sorted(by_step)
        means = [statistics.fmean(by_step[s]) for s in steps]
        stds = [statistics.pstdev(by_step[s]) for s in steps]
        ax.plot(steps, means, marker="o" if len(steps) < 20 else None, label=f"{label} (n={len(runs)})")
        ax.fill_between(steps, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)], alpha=0.2)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("iteration")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / (metric.replace("/", "_").replace("@", "at") + ".png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def compare(paths: Sequence[Path], by: Sequence[str] = (), metrics: Sequence[str] = (),
            out: Path | None = Path("compare"), minimize: bool = False) -> str:
    """The printed report; PNGs go to `out` (None: no plots)."""
    runs = [load_run(p) for p in find_runs(paths)]
    diffs = differing_keys(runs)
    by = list(by) or [k for k in diffs if k != "seed"]
    metrics = list(metrics) or [m for m in DEFAULT_METRICS if any(r.curve(m) for r in runs)]
    groups = group_runs(runs, by)
    header = ["group", "runs"] + [f"{m} {kind}" for m in metrics for kind in ("final", "best")]
    text = [f"{len(runs)} runs, grouped by {', '.join(by) or '(nothing differs)'}",
            render_table(header, summary_rows(groups, metrics, maximize=not minimize))]
    failed = [r for r in runs if r.failed is not None]
    if failed:
        text.append("\nfailed runs (left out of the statistics):")
        text += [f"  {r.path}: {r.failed}" for r in failed]
    if diffs:
        text.append("\nconfig differences:")
        text += [f"  {k}: {', '.join(sorted({str(v) for v in values}))}" for k, values in diffs.items()]
    if out is not None:
        written = [p for p in (plot_curves(groups, m, out) for m in metrics) if p]
        text.append("\nlearning curves: " + (", ".join(map(str, written)) or "none (no metric values)"))
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlx.compare", description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="run, sweep or parent directories")
    parser.add_argument("--by", nargs="*", default=[], help="config keys to group by (default: the keys that differ, minus seed)")
    parser.add_argument("--metric", nargs="*", default=[], help=f"metrics (default: {', '.join(DEFAULT_METRICS)})")
    parser.add_argument("--out", type=Path, default=Path("compare"), help="where the PNGs go")
    parser.add_argument("--minimize", action="store_true", help="'best' is the minimum (e.g. a loss)")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    try:
        print(compare(args.dirs, args.by, args.metric, None if args.no_plots else args.out, args.minimize))
    except (FileNotFoundError, KeyError) as err:
        print(f"rlx: {err.args[0] if isinstance(err, KeyError) else err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
