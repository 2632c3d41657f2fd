#!/usr/bin/env python
"""What the hierarchical estimators (hiper, himac) cost per call relative to gigpo, on one synthetic
batch of per-step rows the size of the papers' ALFWorld iteration (16 tasks x 8 episodes, up to 50
steps, 64 tokens per row by default).

    .venv/bin/python benchmarks/hierarchical_advantages.py
    .venv/bin/python benchmarks/hierarchical_advantages.py --tasks 4 --steps 15 --repeats 20

Only the advantage computation is timed (the rollout, log-prob passes and update dominate an
iteration and are the same for all three, except HiPER's second value output and HiMAC's extra
blueprint rows). Prints the median seconds per call and the ratio to gigpo. Wall-clock: run it
on a quiet machine and read the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlx.algos.himac import himac  # noqa: E402
from rlx.algos.hiper import hiper  # noqa: E402
from rlx.algos.step_advantages import StepInfo, gigpo  # noqa: E402


def synthetic_rows(tasks: int, group: int, max_steps: int, tokens: int, seed: int = 0):
    """Per-step rows of tasks x group episodes of random length, a planner span on each row,
    switches with probability 0.3, a blueprint per 2 episodes, sparse 0/10 rewards."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_steps + 1, (tasks * group,), generator=gen)
    episode = torch.repeat_interleave(torch.arange(tasks * group), lengths)
    step = torch.cat([torch.arange(int(n)) for n in lengths])
    b = episode.numel()
    switch = (torch.rand(b, generator=gen) < 0.3) & (step > 0)
    segment = torch.zeros(b, dtype=torch.long)
    for e in range(tasks * group):  # cumulative switches within each episode
        rows = (episode == e).nonzero().squeeze(1)
        segment[rows] = torch.cumsum(switch[rows].long(), 0)
    mask = torch.ones(b, tokens, dtype=torch.bool)
    planner = torch.zeros(b, tokens, dtype=torch.bool)
    planner[:, : tokens // 4] = True
    rewards = torch.zeros(b, tokens)
    last = torch.cat([(episode[1:] != episode[:-1]), torch.tensor([True])])
    rewards[:, -1] = 10.0 * (last & (torch.rand(b, generator=gen) < 0.5)).float()
    steps = StepInfo(episode_ids=episode % group, step_ids=step,
                     anchor_ids=torch.randint(0, 20, (b,), generator=gen), planner_mask=planner,
                     segment_ids=segment, blueprint_ids=(episode % group) // 2)
    groups = episode // group
    values = torch.randn(b, tokens, 2, generator=gen)
    return rewards, mask, groups, values, steps


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    rewards, mask, groups, values, steps = synthetic_rows(args.tasks, args.group, args.steps, args.tokens)
    print(f"{rewards.shape[0]} rows x {args.tokens} tokens; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    estimators = {
        "gigpo": partial(gigpo, rewards, mask, groups, steps=steps),
        "hiper": partial(hiper, rewards, mask, groups, values, steps=steps),
        "himac": partial(himac, rewards, mask, groups, steps=steps, schedule="joint"),
    }
    base = None
    for name, fn in estimators.items():
        seconds = median_seconds(fn, args.repeats)
        base = base or seconds
        print(f"{name:6s} {seconds * 1e3:8.2f} ms/call  x{seconds / base:5.2f} of gigpo")


if __name__ == "__main__":
    main()
