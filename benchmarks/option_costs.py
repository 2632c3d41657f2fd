#!/usr/bin/env python
"""What each curriculum, reward-shaping, reward-combination and loss option costs per iteration,
relative to the baseline (uniform curriculum, no shaping, sum, ppo_clip), same seed and task.

    .venv/bin/python benchmarks/option_costs.py                      # tiny model, 4 iterations
    .venv/bin/python benchmarks/option_costs.py --model smollm2-135m --iterations 3
    .venv/bin/python benchmarks/option_costs.py --only curriculum=dynamic_filter loss=epo

Prints median seconds per iteration (the first iteration, which warms up, is dropped) and, where
the option changes it, the generation time, since options like dynamic_filter roll out more.
Run it on a quiet machine: the figures are wall-clock.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlx.config.compose import check_overrides, chosen_groups  # noqa: E402
from rlx.launch import prepare  # noqa: E402
from rlx.logging.base import read_metrics  # noqa: E402
from rlx.train.recipe import run  # noqa: E402

OPTIONS = [
    "curriculum=difficulty_band", "curriculum=dynamic_filter", "curriculum=d3s", "curriculum=pcl",
    "reward=format", "reward=overlong", "reward=length_budget",
    "reward=[format,overlong] reward_combine=normalize_then_sum", "reward=[format,overlong] reward_combine=dvao",
    "loss=clip_higher", "loss=gspo", "loss=clip_cov", "loss=kl_cov", "loss=epo",
]


def seconds_per_iteration(overrides: list[str], root: Path) -> tuple[float, float]:
    """Median iteration and generation seconds of a run with `overrides` (first iteration dropped)."""
    args = [*overrides, f"runs_root={root}"]
    _, run_dir = prepare(check_overrides(args), choices=chosen_groups(args), overrides=args)
    run(run_dir)
    rows = read_metrics(run_dir / "metrics.jsonl")[1:] or read_metrics(run_dir / "metrics.jsonl")
    return (statistics.median(r["perf/time/iteration"] for r in rows),
            statistics.median(r.get("perf/generation_s", 0.0) for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--env", default="math_easy")
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--only", nargs="*", default=None, help="options to measure (default: all)")
    args = parser.parse_args()
    base = [f"model={args.model}", f"env={args.env}", f"iterations={args.iterations}", "seed=0",
            "logger=none", "trainer.eval_tasks=0"]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for label in ["baseline", *(args.only or OPTIONS)]:
            extra = [] if label == "baseline" else label.split()
            it_s, gen_s = seconds_per_iteration([*base, *extra], Path(tmp))
            results.append((label, it_s, gen_s))
            print(f"  measured {label}: {it_s:.2f} s/it", file=sys.stderr, flush=True)
    base_it = results[0][1]
    print(f"\nmodel={args.model} env={args.env} iterations={args.iterations} (median s/it, first dropped)")
    print(f"{'option':<58} {'s/it':>7} {'gen s':>7} {'x baseline':>10}")
    for label, it_s, gen_s in results:
        print(f"{label:<58} {it_s:>7.2f} {gen_s:>7.2f} {it_s / base_it:>10.2f}")


if __name__ == "__main__":
    main()
