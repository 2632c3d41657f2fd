"""`python -m rlx.sweep sweeps/NAME.yaml [key=value ...]` (also `python launch.py --sweep FILE ...`).

Every point is composed and validated first; nothing is written or queued if any point is bad.
--dry-run lists the points and stops there.
"""

from __future__ import annotations

import argparse
import sys

from rlx.config.validate import ConfigError
from rlx.sweep.runner import add_points, launch_points, new_sweep, prepare_points
from rlx.sweep.spec import expand, load_sweep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlx.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="a sweep file, e.g. sweeps/grpo_vs_rloo_smoke.yaml")
    parser.add_argument("overrides", nargs="*", help="launch.py overrides applied to every point")
    parser.add_argument("--dry-run", action="store_true", help="validate and list the points only")
    parser.add_argument("--parallel", type=int, default=None,
                        help="local points at once (default: the sweep's array_parallelism, else 1)")
    args = parser.parse_args(argv)
    try:
        spec = load_sweep(args.spec)
        if spec.optuna is not None:
            from rlx.sweep.search import run_search

            return run_search(spec, args.overrides, dry_run=args.dry_run, parallel=args.parallel)
        points = prepare_points(spec.name, expand(spec, args.overrides), spec.array_parallelism)
    except ConfigError as err:
        print(f"rlx: {err}", file=sys.stderr)
        return 2
    print(f"rlx: sweep {spec.name}: {len(points)} points")
    for i, point in enumerate(points):
        print(f"  {i:03d}  {' '.join(point.overrides)}")
    if args.dry_run:
        return 0
    registry = new_sweep(spec.name, points, spec.path)
    records = add_points(registry, points)
    print(f"rlx: sweep directory {registry.sweep_dir}")
    parallel = args.parallel or spec.array_parallelism or 1
    failed = launch_points(registry, records, points[0].config, parallel)
    if registry.launcher != "SlurmLauncher" or failed:
        print(f"rlx: sweep {spec.name}: {len(records) - failed} done, {failed} failed; "
              f"details: python -m rlx.status {registry.sweep_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
