#!/usr/bin/env python
"""What taking old log-probs from the update's own forward (one pass) saves per iteration,
against a separate scoring pass first (two passes), on one rollout batch of the default run.

    .venv/bin/python benchmarks/one_pass.py                       # SmolLM2-135M, 8 x 4, 128 tokens
    .venv/bin/python benchmarks/one_pass.py model=tiny --repeats 3

Rolls out one batch, then times, in this one process and on the same starting weights (restored
before each measurement), `prepare_update` + `ppo_update` with and without the scoring pass;
modes alternate (one, two, two, one, ...) so load drift hits both. Prints the median seconds of
each phase, the saving per iteration, and the largest parameter difference between the two
paths after their update (they should agree up to float noise). Wall-clock: note the load.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rlx.config.compose import check_overrides, chosen_groups  # noqa: E402
from rlx.launch import prepare  # noqa: E402
from rlx.train import loop  # noqa: E402
from rlx.train.recipe import build_run  # noqa: E402
from rlx.train.update import ppo_update  # noqa: E402
from rlx.utils.seeding import derive_seed  # noqa: E402


def one_iteration_update(run, batch, scoring: bool) -> tuple[float, float]:
    """(prepare_update seconds, ppo_update seconds) with or without the scoring pass."""
    original = loop.needs_scoring_pass
    loop.needs_scoring_pass = lambda _run: scoring
    try:
        start = time.perf_counter()
        train_batch, _ = loop.prepare_update(run, batch)
        mid = time.perf_counter()
        s = run.settings
        ppo_update(run.model, run.value_head, run.optimizer, run.objective, train_batch,
                   epochs=s.ppo_epochs, minibatches=s.minibatches, micro_batch_size=s.micro_batch_size,
                   max_grad_norm=s.max_grad_norm, chunk_size=s.logprob_chunk_size,
                   temperature=loop.logprob_temperature(run.engine), device=run.device,
                   autocast=run.autocast, generator=torch.Generator().manual_seed(derive_seed(run.seed, "mb", 0)),
                   parallel=run.parallel)
        return mid - start, time.perf_counter() - mid
    finally:
        loop.needs_scoring_pass = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="measurements per mode")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides (default shape otherwise)")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"one_pass: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cli = ["logger=none", "iterations=1", "trainer.eval_tasks=0", f"runs_root={tmp}", *args.overrides]
        config, run_dir = prepare(check_overrides(cli), choices=chosen_groups(cli), overrides=cli)
        run = build_run(config, run_dir)
        if loop.needs_scoring_pass(run):
            sys.exit("one_pass: this config needs the scoring pass anyway (not strictly on-policy)")
        with run.autocast():
            batch = loop.collect_batch(run, 0)
        loop.shape_rewards(batch, run.shaping, run.reward_combine)
        print(f"one_pass: batch {tuple(batch.input_ids.shape)}, {int(batch.action_mask.sum())} action tokens",
              flush=True)
        start_model = copy.deepcopy(run.model.state_dict())
        start_optim = copy.deepcopy(run.optimizer.state_dict())
        times = {True: [], False: []}
        after = {}
        order = [m for r in range(args.repeats) for m in ((False, True) if r % 2 == 0 else (True, False))]
        for scoring in order:
            run.model.load_state_dict(start_model)
            run.optimizer.load_state_dict(start_optim)
            with run.autocast():
                times[scoring].append(one_iteration_update(run, batch, scoring))
            after[scoring] = [p.detach().clone() for p in run.model.parameters()]
            print(f"  {'two passes' if scoring else 'one pass  '}: prepare {times[scoring][-1][0]:.1f} s, "
                  f"update {times[scoring][-1][1]:.1f} s", flush=True)
    med = {m: [statistics.median(t[i] for t in times[m]) for i in (0, 1)] for m in times}
    total = {m: sum(med[m]) for m in med}
    worst = max((a - b).abs().max().item() for a, b in zip(after[True], after[False]))
    load = os.getloadavg()
    print(f"two passes: prepare_update {med[True][0]:.1f} s + update {med[True][1]:.1f} s = {total[True]:.1f} s")
    print(f"one pass:   prepare_update {med[False][0]:.1f} s + update {med[False][1]:.1f} s = {total[False]:.1f} s")
    print(f"saved per iteration: {total[True] - total[False]:.1f} s ({total[True] / total[False]:.2f}x on "
          f"these phases); max |param difference| after the update {worst:.2e}; load average at end "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
