"""Training with rollout=vllm end to end: GRPO learns like it does with the HF engine, a
multi-turn WebShop run plays through vLLM, and a resumed run samples from the resumed weights."""

from __future__ import annotations

import math

import pytest

from rlx.config.compose import check_overrides, chosen_groups
from rlx.launch import prepare
from rlx.logging.base import read_metrics
from rlx.train.recipe import run
from tests.vllm_support import require_vllm

VLLM = ["model=tiny_vllm", "rollout=vllm", "rollout.enforce_eager=true", "rollout.cpu_kv_cache_gib=1",
        "logger=none"]
SANITY = ["env=sanity_digits", "trainer.tasks_per_iter=4", "trainer.group_size=8",
          "trainer.micro_batch_size=32", "trainer.lr=3e-3", "rollout.max_new_tokens=8",
          "trainer.eval_every=0", "trainer.eval_tasks=4", "seed=0"]


def train(tmp_path, *overrides: str) -> list[dict]:
    return train_dir(tmp_path, *overrides)[1]


def train_dir(tmp_path, *overrides: str):
    plain = [] if any(o.startswith("experiment=") for o in overrides) else ["experiment=none"]
    args = [*plain, f"runs_root={tmp_path / 'runs'}", *overrides]
    _, run_dir = prepare(check_overrides(args), choices=chosen_groups(args), overrides=args)
    run(run_dir)
    return run_dir, read_metrics(run_dir / "metrics.jsonl")


def rise(rows: list[dict]) -> tuple[float, float]:
    rewards = [r["reward/mean"] for r in rows]
    return sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two 30-iteration runs (vLLM's reward: 0.03 -> 0.70 at load ~30)
def test_grpo_with_vllm_learns_like_with_hf(tmp_path):
    """Same model, task, seed and budget: the reward rises by more than 0.3 with either engine."""
    require_vllm()
    vllm_rows = train(tmp_path / "vllm", *VLLM, *SANITY, "iterations=30")
    hf_rows = train(tmp_path / "hf", "model=tiny_vllm", "rollout=hf", "logger=none", *SANITY, "iterations=30")
    (v0, v1), (h0, h1) = rise(vllm_rows), rise(hf_rows)
    assert v1 > v0 + 0.3, f"vllm: reward did not rise: {[r['reward/mean'] for r in vllm_rows]}"
    assert h1 > h0 + 0.3, f"hf: reward did not rise: {[r['reward/mean'] for r in hf_rows]}"
    assert all(r["perf/time/weight_sync"] > 0 for r in vllm_rows)
    assert all(r["perf/time/weight_sync"] == 0 for r in hf_rows)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # three vLLM starts; passed in 620 s at load average ~25
def test_resumed_run_samples_from_the_resumed_weights(tmp_path):
    """2 iterations, then resume to 3: the third iteration equals a straight 3-iteration run's,
    which needs the engine synced with the checkpoint's weights at resume."""
    require_vllm()
    common = [*VLLM, *SANITY, "trainer.checkpoint_every=1"]
    straight = train(tmp_path / "straight", *common, "iterations=3")
    run_dir, _ = train_dir(tmp_path / "split", *common, "iterations=2")
    resumed = train(tmp_path / "split", *common, "iterations=3", f"resume={run_dir}")
    assert [r["step"] for r in resumed] == [1, 2, 3]
    keys = ("reward/mean", "response_length/mean", "loss/policy")
    assert [resumed[-1][k] for k in keys] == pytest.approx([straight[-1][k] for k in keys], abs=1e-6)


@pytest.mark.slow
def test_multi_turn_webshop_with_vllm(tmp_path):
    require_vllm()
    rows = train(tmp_path, "experiment=grpo_webshop", *VLLM, "iterations=1", "trainer.tasks_per_iter=2",
                 "trainer.group_size=2", "trainer.minibatches=1", "trainer.micro_batch_size=8",
                 "rollout.max_new_tokens=16", "agent.max_steps=3", "agent.num_workers=1",
                 "trainer.eval_tasks=2", "trainer.eval_every=1")
    (row,) = rows
    for key in ("loss/policy", "env/success_rate", "env/episode_length", "reward/invalid_action",
                "eval/pass@1", "perf/time/weight_sync", "perf/generation_tokens_per_s"):
        assert math.isfinite(row[key]), key
    assert row["env/episode_length"] >= 1 and row["rollout/num_rows"] >= 4
