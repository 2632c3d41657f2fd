#!/usr/bin/env python
"""One rlx iteration vs one TRL 1.16 `GRPOTrainer` step: same model, prompts, G, lengths, lr, beta.

    .venv/bin/python benchmarks/vs_trl.py                          # 3 iterations/steps each
    .venv/bin/python benchmarks/vs_trl.py --iterations 2 rollout=vllm
    .venv/bin/python benchmarks/vs_trl.py --skip-trl               # rlx side only
    .venv/bin/python benchmarks/vs_trl.py --prompts 4 --max-new-tokens 32   # a smaller shape, both sides

Shape: SmolLM2-135M-Instruct (the HF folder rlx caches under ~/.cache/rlx), fp32 on CPU, the
default run's addition/word-problem tasks (env=math_easy), 8 prompts x G=4, 128 new tokens,
temperature 1, lr 1e-5, beta 0 (no reference model), one optimizer step per batch, micro-batches
of 16, gradient checkpointing off. TRL sees the same prompts in the same order as rlx's
iterations (rlx's curriculum, replayed). Extra arguments are Hydra overrides for the rlx side
(e.g. rollout=vllm); they come last, so they win.

TRL runs in its own virtual environment (`python -m venv` + `pip install torch==2.13.0
trl==1.16.0`, under the rlx cache folder, made once); if that cannot be installed, the TRL side
is skipped with a message. Both sides run one after the other in this one process tree on this
one machine; the medians are over all iterations/steps (the first included: rlx's has loaded
its model before, TRL's includes its trainer set-up). Prints the medians, rlx's breakdown
(generation, log-prob pass, update) and the ratio TRL / rlx (> 1: rlx is faster).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rlx.config.compose import check_overrides, chosen_groups  # noqa: E402
from rlx.launch import prepare  # noqa: E402
from rlx.logging.base import read_metrics  # noqa: E402
from rlx.models.cache import default_cache_dir as cache_root  # noqa: E402
from rlx.train.recipe import build_run  # noqa: E402
from rlx.train.loop import train  # noqa: E402

TRL_PINS = ["torch==2.13.0", "trl==1.16.0"]  # torch pinned: unpinned pulls a multi-GB CUDA build
SHAPE = dict(prompts_per_step=8, group_size=4, max_new_tokens=128, lr=1e-5, micro_batch_size=16)


def rlx_overrides(iterations: int, extra: list[str]) -> list[str]:
    s = SHAPE  # set from the command line in main()
    return ["model=smollm2-135m", "env=math_easy", "logger=none", "seed=0", f"iterations={iterations}",
            f"trainer.tasks_per_iter={s['prompts_per_step']}", f"trainer.group_size={s['group_size']}",
            f"rollout.max_new_tokens={s['max_new_tokens']}", f"trainer.lr={s['lr']}",
            f"trainer.micro_batch_size={s['micro_batch_size']}", "trainer.ppo_epochs=1",
            "trainer.minibatches=1", "loss.kl_coef=0.0", "trainer.eval_tasks=0",
            "model.gradient_checkpointing=false", *extra]


def run_rlx(overrides: list[str], root: Path) -> tuple[list[dict], list[tuple[list[dict], str]]]:
    """Train rlx; return its metrics rows and, replayed from a copy of its curriculum taken
    before training, the tasks of each iteration as (chat messages, answer)."""
    args = [*overrides, f"runs_root={root}"]
    config, run_dir = prepare(check_overrides(args), choices=chosen_groups(args), overrides=args)
    run = build_run(config, run_dir)
    replay = copy.deepcopy(run.curriculum)
    env = run.collect.args[2] if hasattr(run.collect, "args") else None
    tasks = [t for _ in range(run.iterations) for t in replay.sample(run.settings.tasks_per_iter)]
    prompts = [(env.messages(t), t.answer) for t in tasks] if env is not None else []
    try:
        train(run)
    finally:
        for logger in run.loggers:
            logger.finish()
    return read_metrics(run_dir / "metrics.jsonl"), prompts


def smollm2_folder() -> Path:
    """rlx's cached HF folder of SmolLM2-135M-Instruct (made on first use by rlx)."""
    found = sorted(p.parent for p in cache_root().glob("smollm2-135m-instruct*/config.json"))
    if not found:
        from rlx.models.smollm2 import build_smollm2

        build_smollm2(device="cpu")
        found = sorted(p.parent for p in cache_root().glob("smollm2-135m-instruct*/config.json"))
    return found[-1]


def trl_python(venv: Path) -> Path | None:
    """TRL's venv interpreter, made once with pinned torch; None (and a message) if it fails."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import trl, torch; assert trl.__version__ == '1.16.0'"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"vs_trl: installing {' '.join(TRL_PINS)} into {venv} (once)", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *TRL_PINS], check=True)
        subprocess.run(check, check=True)
    except (subprocess.CalledProcessError, OSError) as err:
        print(f"vs_trl: TRL side skipped: could not install {' '.join(TRL_PINS)} ({err})")
        return None
    return python


def run_trl(python: Path, prompts: list[tuple[list[dict], str]], steps: int, tmp: Path) -> dict:
    spec = {"model": str(smollm2_folder()), "prompts": [m for m, _ in prompts],
            "answers": [a for _, a in prompts], "steps": steps, "seed": 0,
            "output_dir": str(tmp / "trl_out"), **SHAPE}
    (tmp / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "WANDB_MODE": "disabled", "PYTHONPATH": ""}
    subprocess.run([str(python), str(REPO / "benchmarks" / "trl_grpo_steps.py"), str(tmp / "spec.json"),
                    str(tmp / "result.json")], check=True, env=env)
    return json.loads((tmp / "result.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3, help="rlx iterations = TRL steps")
    parser.add_argument("--prompts", type=int, default=8, help="prompts per step (x G=4 samples)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--trl-venv", type=Path, default=cache_root() / "trl-1.16.0-venv")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the rlx side, e.g. rollout=vllm")
    args = parser.parse_args()
    SHAPE.update(prompts_per_step=args.prompts, max_new_tokens=args.max_new_tokens)
    load = os.getloadavg()
    print(f"vs_trl: shape {SHAPE}", flush=True)
    print(f"vs_trl: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows, prompts = run_rlx(rlx_overrides(args.iterations, args.overrides), tmp / "runs")
        rlx_s = [r["perf/time/iteration"] for r in rows]
        parts = {name: statistics.median(r.get(key, 0.0) for r in rows) for name, key in [
            ("generation", "perf/generation_s"), ("logprob pass", "perf/time/logprobs"),
            ("update", "perf/time/update")]}
        print(f"rlx  {' '.join(args.overrides) or '(defaults)'}: s/iteration {[round(x, 1) for x in rlx_s]}, "
              f"median {statistics.median(rlx_s):.1f} s ("
              + ", ".join(f"{k} {v:.1f} s" for k, v in parts.items())
              + f"); reward {[round(r['reward/mean'], 3) for r in rows]}", flush=True)
        python = None if args.skip_trl else trl_python(args.trl_venv)
        if python is None:
            return
        result = run_trl(python, prompts, args.iterations, tmp)
        trl_s = result["step_s"]
        print(f"TRL 1.16 GRPOTrainer: s/step {[round(x, 1) for x in trl_s]}, median "
              f"{statistics.median(trl_s):.1f} s; reward {[round(r, 3) for r in result['reward']]}")
        ratio = statistics.median(trl_s) / statistics.median(rlx_s)
        load = os.getloadavg()
        print(f"ratio TRL/rlx (median s per step / per iteration): {ratio:.2f}x "
              f"({'rlx faster' if ratio > 1 else 'TRL faster'}); load average at end "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
