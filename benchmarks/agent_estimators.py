#!/usr/bin/env python
"""One iteration's cost of each agent advantage estimator relative to GiGPO, same settings and seed.

    .venv/bin/python benchmarks/agent_estimators.py                         # gigpo grpo salt, tiny model, ALFWorld
    .venv/bin/python benchmarks/agent_estimators.py --env webshop --model smollm2-135m
    .venv/bin/python benchmarks/agent_estimators.py --advantages gigpo salt hiper himac \\
        --extra "hiper=agent=hierarchical" --extra "himac=agent=hierarchical agent.mode=himac"

Two measurements, both printed with their ratio to the first choice (the reference, gigpo):
1. Training runs of `--iterations` iterations each on the generated ALFWorld (or WebShop) games
   with the chosen model: the median `perf/time/iteration` (the whole iteration: roll-out,
   log-probs, advantages, update) and the median `perf/time/advantage` (the estimator call
   itself), the first iteration dropped (it loads the games and warms up).
2. The estimator alone on synthetic per-step rows of the published scale (`--rows-tasks`
   tasks x `--rows-group` episodes x `--rows-steps` steps over a small state space, so states
   are shared as in ALFWorld), median of `--repeats` calls: where the tiny runs' batches are
   too small to show the estimator's cost, this shows it at 16 x 8 x 50 = 6400 rows.

A choice is an advantage config name (`salt`), optionally with more overrides for that choice
given by `--extra NAME=OVERRIDES` (space-separated), e.g. SALT on RLOO:
`--advantages gigpo salt --extra "salt=advantage@advantage.base=rloo"`. Wall-clock figures: run
it on a quiet machine, or compare the ratios from one run only.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hydra.utils  # noqa: E402
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from rlx.algos.advantages import needs_values  # noqa: E402
from rlx.algos.step_advantages import StepInfo, episode_level, needs_steps  # noqa: E402
from rlx.config.compose import check_overrides, chosen_groups  # noqa: E402
from rlx.launch import prepare  # noqa: E402
from rlx.logging.base import read_metrics  # noqa: E402
from rlx.train.recipe import run  # noqa: E402

ENV_SETTINGS = {
    "alfworld": ["experiment=gigpo_alfworld", "env.games.num_train=8", "env.games.num_eval=2",
                 "env.games.train_layouts=4", "env.games.eval_layouts=2"],
    "webshop": ["experiment=gigpo_webshop"],
}


def choice_overrides(name: str, extra: dict[str, list[str]]) -> list[str]:
    return [f"advantage={name}", *extra.get(name, [])]


def run_seconds(overrides: list[str], root: Path) -> tuple[float, float, int]:
    """Median (iteration s, advantage s) over the iterations after the first, and the rows."""
    args = [*overrides, f"runs_root={root}"]
    _, run_dir = prepare(check_overrides(args), choices=chosen_groups(args), overrides=args)
    run(run_dir)
    rows = read_metrics(run_dir / "metrics.jsonl")
    timed = rows[1:] or rows
    return (statistics.median(r["perf/time/iteration"] for r in timed),
            statistics.median(r["perf/time/advantage"] for r in timed),
            int(statistics.median(r["rollout/num_rows"] for r in timed)))


def synthetic_rows(tasks: int, group: int, steps: int, states: int, seed: int = 0):
    """Per-step rows of random walks over `states` states per task (shared, as in ALFWorld),
    sparse success reward on the last step, one action token per row."""
    rng = random.Random(seed)
    groups, episodes, step_ids, anchors, rewards = [], [], [], [], []
    for t in range(tasks):
        for e in range(group):
            length = rng.randint(steps // 2, steps)
            state = 0
            for s in range(length):
                groups.append(t)
                episodes.append(e)
                step_ids.append(s)
                anchors.append(t * 10_000 + state)
                rewards.append(10.0 if s == length - 1 and rng.random() < 0.3 else 0.0)
                state = rng.randrange(states)
    n = len(groups)
    reward = torch.tensor(rewards)[:, None]
    mask = torch.ones(n, 1)
    steps_info = StepInfo(torch.tensor(episodes), torch.tensor(step_ids), torch.tensor(anchors),
                          context_ids=torch.tensor(anchors)[:, None].repeat(1, 3),
                          entropy=torch.rand(n))
    return reward, mask, torch.tensor(groups), steps_info


def estimator_seconds(overrides: list[str], batch, repeats: int) -> float | str:
    """Median seconds of one estimator call on `batch` (how the trainer calls it), or why not."""
    cfg = OmegaConf.to_container(check_overrides(overrides).advantage, resolve=True)
    fn = hydra.utils.instantiate(cfg)
    rewards, mask, groups, steps = batch
    if needs_values(fn):
        return "n/a (needs a value head)"

    def call():
        if needs_steps(fn):
            return fn(rewards, mask, groups, steps=steps)
        return episode_level(rewards, mask, groups, steps=steps, estimator=fn)

    try:
        call()
    except Exception as err:  # e.g. an estimator that needs row metadata the synthetic rows lack
        return f"n/a ({type(err).__name__}: {str(err)[:60]})"
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def ratio(value, reference) -> str:
    if isinstance(value, str) or isinstance(reference, str) or reference <= 0:
        return "-"
    return f"{value / reference:.2f}"


def fmt(value, unit_ms: bool = False) -> str:
    if isinstance(value, str):
        return value
    return f"{value * 1e3:.2f}" if unit_ms else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--advantages", nargs="+", default=["gigpo", "grpo", "salt"],
                        help="advantage choices; the first is the reference (default: gigpo grpo salt)")
    parser.add_argument("--extra", action="append", default=[],
                        help='more overrides for one choice: "NAME=OVERRIDE [OVERRIDE ...]"')
    parser.add_argument("--env", choices=sorted(ENV_SETTINGS), default="alfworld")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=4, help="tasks per iteration")
    parser.add_argument("--group", type=int, default=4, help="group size")
    parser.add_argument("--max-steps", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--rows-tasks", type=int, default=16)
    parser.add_argument("--rows-group", type=int, default=8)
    parser.add_argument("--rows-steps", type=int, default=50)
    parser.add_argument("--rows-states", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--skip-runs", action="store_true", help="only the estimator-alone timing")
    args = parser.parse_args()
    extra: dict[str, list[str]] = {}
    for item in args.extra:
        name, _, rest = item.partition("=")
        extra[name] = rest.split()
    common = [*ENV_SETTINGS[args.env], f"model={args.model}", f"iterations={args.iterations}", "seed=0",
              "logger=none", "trainer.eval_tasks=0", "trainer.checkpoint_every=0",
              f"trainer.tasks_per_iter={args.tasks}", f"trainer.group_size={args.group}",
              "trainer.minibatches=1", f"agent.max_steps={args.max_steps}", "agent.num_workers=1",
              f"rollout.max_new_tokens={args.max_new_tokens}"]

    batch = synthetic_rows(args.rows_tasks, args.rows_group, args.rows_steps, args.rows_states)
    alone = {}
    for name in args.advantages:
        alone[name] = estimator_seconds([*common, *choice_overrides(name, extra)], batch, args.repeats)
        print(f"  estimator alone {name}: {fmt(alone[name], True)} ms", file=sys.stderr, flush=True)
    runs = {}
    if not args.skip_runs:
        with tempfile.TemporaryDirectory() as tmp:
            for name in args.advantages:
                runs[name] = run_seconds([*common, *choice_overrides(name, extra)], Path(tmp) / name)
                print(f"  run {name}: {runs[name][0]:.2f} s/it", file=sys.stderr, flush=True)

    ref = args.advantages[0]
    load = os.getloadavg()
    print(f"\nenv={args.env} model={args.model} tasks x group = {args.tasks} x {args.group}, "
          f"max_steps={args.max_steps}, max_new_tokens={args.max_new_tokens}, seed 0, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if runs:
        print(f"training runs: median over iterations 2..{args.iterations}")
        print(f"{'advantage':<12} {'rows/it':>8} {'s/it':>8} {'x ' + ref:>9} {'adv ms':>9} {'x ' + ref:>9}")
        for name, (it_s, adv_s, rows) in runs.items():
            print(f"{name:<12} {rows:>8} {it_s:>8.2f} {ratio(it_s, runs[ref][0]):>9} "
                  f"{adv_s * 1e3:>9.2f} {ratio(adv_s, runs[ref][1]):>9}")
    n_rows = batch[0].shape[0]
    print(f"estimator alone on {n_rows} synthetic rows ({args.rows_tasks} tasks x {args.rows_group} "
          f"episodes x <= {args.rows_steps} steps), median of {args.repeats} calls")
    print(f"{'advantage':<12} {'ms':>10} {'x ' + ref:>9}")
    for name, seconds in alone.items():
        print(f"{name:<12} {fmt(seconds, True):>10} {ratio(seconds, alone[ref]):>9}")


if __name__ == "__main__":
    main()
