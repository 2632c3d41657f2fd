"""Data-parallel rollouts: every rank gets the same global task list (the curriculum samples
alike on every rank), plays only its contiguous share of the tasks (whole groups, so
group-normalised estimators stay local), and receives everyone's rollouts back as one
global batch, the same on every rank. Rank r rolls out with the seed derived from the
iteration's seed and r, so ranks do not repeat each other's samples.

Since every rank then holds the global batch, reward metrics, advantage normalisation over
the batch and the curriculum update all see the global batch, exactly as in one process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

from rlx.distributed import all_gather_objects
from rlx.envs.base import Task
from rlx.train.batching import concat_batches, merge_stats
from rlx.train.parallel import DataParallel
from rlx.rollout.batch import RolloutBatch
from rlx.utils.seeding import derive_seed


def shard_collect(collect: Callable[..., RolloutBatch], parallel: DataParallel, pad_id: int,
                  generation: Callable[[], AbstractContextManager] = nullcontext,
                  ) -> Callable[..., RolloutBatch]:
    """`collect(tasks, group_size, seed=, **options)` over the ranks of `parallel`, as
    described above (`options` are passed through as they are).

    pad_id: the padding token of the merged batch's rows. generation: a context every rank
    enters around its share of the rollouts (FSDP: gather the full weights for `generate`);
    a rank whose share is empty (more ranks than tasks, e.g. in evaluation) enters it too.
    """
    layout = parallel.layout

    def collect_shard(tasks: Sequence[Task], group_size: int, *, seed: int, **options) -> RolloutBatch:
        mine = list(tasks)[layout.share(len(tasks))]
        local = None
        with generation():
            if mine:
                local = collect(mine, group_size, seed=derive_seed(seed, "rank", layout.rank),
                                **options)
        batches = [b for b in all_gather_objects(local, layout) if b is not None]
        merged = concat_batches(batches, pad_id)
        merged.stats = rank_stats([b.stats for b in batches])
        return merged

    return collect_shard


def rank_stats(stats: Sequence[dict[str, float]]) -> dict[str, float]:
    """The ranks' rollout stats as one: token totals add up, times are the slowest rank's
    (ranks run side by side), so the generation rate is the global one; every other figure
    (env/ counters and rates) is the mean over the ranks that report it."""
    merged = merge_stats(stats)
    for key in merged:
        if key == "perf/generation_s" or key.startswith("perf/time/"):
            merged[key] = max(s[key] for s in stats if key in s)
    if "perf/generation_tokens" in merged and "perf/generation_s" in merged:
        merged["perf/generation_tokens_per_s"] = (merged["perf/generation_tokens"]
                                                  / max(merged["perf/generation_s"], 1e-9))
    return merged
