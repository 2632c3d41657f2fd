#!/usr/bin/env python
"""The same prompts and sampling through rollout=hf and rollout=vllm: generated tokens per second,
their ratio, and the share of this machine's compute roofline.

    .venv/bin/python benchmarks/rollout_engines.py                     # SmolLM2-135M, 8 tasks x G=4, 128 tokens
    .venv/bin/python benchmarks/rollout_engines.py --engines hf vllm vllm-eager --repeats 3

The roofline: 2-thread-per-core fp32 matmul GFLOPS measured here (a square 1024 product and a
decode-shaped (B x H) @ (H x 4H) one) divided by the model's forward FLOPs per token
(2 x parameters: every weight is one multiply-add per token; the tied LM head counted once).
Each engine runs `--repeats` times after one warm-up call, the engines taking turns (so a change
in machine load hits both alike); the median rate is reported. Then, `--repeats` times, the
weights are perturbed (as an update would), every engine syncs them and generates again: "after a
sync" is that median rate and its ratio to the first (a slowdown after `sync_weights` shows
there). The figures are wall-clock: the script prints the load average beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from rlx.config.compose import check_overrides  # noqa: E402

from rlx.rollout.batch import encode_prompt  # noqa: E402
from rlx.train.recipe import build  # noqa: E402

def composed(*overrides: str) -> dict:
    """The resolved config for `overrides` (as launch.py composes it), as plain containers."""
    return OmegaConf.to_container(check_overrides(list(overrides)), resolve=True)


def matmul_gflops(m: int, k: int, n: int, seconds: float = 2.0) -> float:
    """fp32 GFLOPS of (m x k) @ (k x n) with torch's current thread count."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * m * k * n * count / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--env", default="math_easy")
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--engines", nargs="+", default=["hf", "vllm"],
                        help="hf, vllm (torch.compile'd), vllm-eager (enforce_eager: no compilation)")
    args = parser.parse_args()

    config = composed(f"model={args.model}", f"env={args.env}", "model.dtype=float32")
    loaded = build(config["model"])(device="cpu", trainable=True)
    env = build(config["env"])
    tasks = list(env.tasks("train"))[: args.tasks]
    prompts = [encode_prompt(loaded.tokenizer, env.messages(t)) for t in tasks for _ in range(args.group_size)]
    flops_per_token = 2 * sum(p.numel() for p in loaded.model.parameters())
    hidden = loaded.model.config.hidden_size
    peak = matmul_gflops(1024, 1024, 1024)
    decode = matmul_gflops(len(prompts), hidden, 4 * hidden)
    roofline = peak * 1e9 / flops_per_token
    print(f"model {args.model}: {flops_per_token / 1e9:.3f} GFLOP/token; {len(prompts)} prompts "
          f"({args.tasks} tasks x G={args.group_size}), {args.max_new_tokens} new tokens, T=1; "
          f"torch threads {torch.get_num_threads()}")
    print(f"matmul fp32: {peak:.0f} GFLOPS (1024^3), {decode:.0f} GFLOPS ({len(prompts)}x{hidden} @ "
          f"{hidden}x{4 * hidden}); roofline {roofline:.0f} tok/s")
    engines, starts = {}, {}
    for name in args.engines:
        node = composed(f"rollout={name.split('-')[0]}")["rollout"]
        node.update(max_new_tokens=args.max_new_tokens, temperature=1.0)
        if name.startswith("vllm"):
            node.update(enforce_eager=name == "vllm-eager", cpu_kv_cache_gib=2.0)
        started = time.perf_counter()
        engines[name] = build(node)(model=loaded.model, tokenizer=loaded.tokenizer)
        engines[name].generate(prompts, seed=0)  # warm-up (and vLLM's compilation, if any)
        starts[name] = time.perf_counter() - started
    rates = {name: [] for name in engines}
    lengths = {name: [] for name in engines}
    for r in range(args.repeats):  # interleaved, so a change in machine load hits both alike
        for name, engine in engines.items():
            engine.generate(prompts, seed=r + 1)
            rates[name].append(engine.last_stats.tokens_per_s)
            lengths[name].append(engine.last_stats.response_tokens / len(prompts))
    synced = {name: [] for name in engines}
    syncs = {name: [] for name in engines}
    for r in range(args.repeats):  # as in training: an update changes the weights, then a sync
        with torch.no_grad():
            for param in loaded.model.parameters():
                param.add_(1e-4 * torch.randn_like(param))
        for name, engine in engines.items():
            syncs[name].append(engine.sync_weights(loaded.model))
            engine.generate(prompts, seed=100 + r)
            synced[name].append(engine.last_stats.tokens_per_s)
    results = {}
    for name, engine in engines.items():
        results[name] = tok_s = statistics.median(rates[name])
        after = statistics.median(synced[name])
        print(f"{name:10s} {tok_s:7.1f} tok/s  ({100 * tok_s / roofline:4.1f}% of roofline)  mean length "
              f"{statistics.mean(lengths[name]):.0f}  start+warm-up {starts[name]:.1f} s  weight sync "
              f"{min(syncs[name]):.2f} s  after a sync {after:.1f} tok/s ({after / tok_s:.2f}x)"
              f"  (runs: {', '.join(f'{x:.0f}' for x in rates[name])} tok/s)")
    for name in results:
        if name != "hf" and "hf" in results:
            print(f"{name} / hf = {results[name] / results['hf']:.2f}x")
    print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
