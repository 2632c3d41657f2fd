"""Held-out evaluation: pass@1 (mean correctness) and, with k > 1 samples per task, pass@k."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import comb

import torch

from rlx.envs.base import Task
from rlx.rollout.batch import RolloutBatch, episode_returns, episode_solved


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021, arXiv 2107.03374)."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def evaluate(collect: Callable[..., RolloutBatch], tasks: Sequence[Task], samples: int,
             seed: int, on_batch: Callable[[RolloutBatch], None] | None = None) -> dict[str, float]:
    """`samples` rollouts (episodes) of each held-out task; `collect(tasks, group_size, seed=)`.
    `on_batch` is handed the evaluation batch first (transcripts, `rlx.train.transcripts`)."""
    batch = collect(tasks, samples, seed=seed)
    if on_batch is not None:
        on_batch(batch)
    correct = torch.tensor(episode_solved(batch)).view(len(tasks), samples)
    metrics = {
        "eval/pass@1": correct.float().mean().item(),
        "eval/reward/mean": episode_returns(batch).mean().item(),
        "eval/format_ok": sum(s.format_ok for s in batch.scores) / len(batch.scores),
        "eval/response_length/mean": batch.response_lengths.float().mean().item(),
        "eval/num_tasks": float(len(tasks)),
    }
    metrics.update({f"eval/{k}": v for k, v in batch.stats.items() if k.startswith("env/")})
    if samples > 1:
        hits = correct.sum(dim=1).tolist()
        metrics[f"eval/pass@{samples}"] = sum(pass_at_k(samples, c, samples) for c in hits) / len(hits)
    return metrics
