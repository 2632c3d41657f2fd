"""SFT learns, end to end through the launcher: the tiny model's format-valid ratio on held-out
ALFWorld games (the RL rollout and its parser) rises from ~0; RL from the SFT checkpoint gets
non-zero advantages and finite updates."""

import math

import torch

from rlx.config.compose import check_overrides
from rlx.launch import prepare
from rlx.logging.base import read_metrics
from rlx.models.from_run import build_from_run
from rlx.models.tiny import build_tiny
from rlx.sft.demos import load_demos
from rlx.train.recipe import run
from tests.sft.conftest import ALFWORLD_GAMES, requires_alfworld


def launch_run(tmp_path, *args, model="tiny"):
    plain = [] if any(a.startswith("experiment=") for a in args) else ["experiment=none"]
    args = [*plain, f"model={model}", "logger=none", f"runs_root={tmp_path}", *args]
    _, run_dir = prepare(check_overrides(args), choices={}, overrides=args)
    run(run_dir)  # rlx.train.recipe.run hands trainer=sft runs to rlx.sft.recipe
    return run_dir, read_metrics(run_dir / "metrics.jsonl")


def evaluations(rows):
    return [r for r in rows if "eval/env/format_valid_ratio" in r]


# What makes the tiny random model learn the format in a CI-sized run (measured 2026-12-02): twice
# the default width (hidden 128, MLP 512: 0.54M parameters; the 64-wide default collapses to
# `<action>>>>` at any lr that is fast enough), lr 3e-3 after 5 warm-up steps, 8 rows per step,
# and enough steps: 15-25 were too few (the loss was still falling fast); at 60 the closing
# `</action>` was still garbled in 5 of 6 held-out steps; at 150 (199 s of training) all 6 were
# format-valid. Greedy decoding makes the measured ratio a property of the weights; 128 new
# tokens fit a demo response (50-88 tokens).
TINY_WIDE = ["model.hidden_size=128", "model.intermediate_size=512"]
TINY_SFT = [*TINY_WIDE, "trainer.lr=3.0e-3", "trainer.warmup_iters=5", "trainer.batch_size=8",
            "trainer.micro_batch_size=8"]
GREEDY = ["agent.num_workers=1", "rollout.max_new_tokens=128", "rollout.temperature=0"]


@requires_alfworld
def test_sft_on_alfworld_demonstrations_makes_the_tiny_model_format_valid(tmp_path, alfworld_cache):
    run_dir, rows = launch_run(
        tmp_path, "experiment=sft_alfworld", *ALFWORLD_GAMES, f"env.games.cache_dir={alfworld_cache}",
        "iterations=150", "trainer.demo_tasks=12", "trainer.eval_tasks=2", "agent.max_steps=3",
        "agent.history_length=1", *TINY_SFT, *GREEDY)
    demos = load_demos(run_dir)
    assert len(demos) >= 100  # 12 expert walkthroughs, one row per command
    before, after = evaluations(rows)
    assert before["step"] == 0 and after["step"] == 150  # agent.max_steps=3 cuts evaluation, not the demos
    assert before["eval/env/format_valid_ratio"] <= 0.2  # a random model does not write the tags
    assert after["eval/env/format_valid_ratio"] >= 0.8
    losses = [r["sft/loss"] for r in rows if "sft/loss" in r]
    assert losses[-1] < 0.5 * losses[0]


def test_rl_from_an_sft_checkpoint_has_nonzero_advantages_and_finite_updates(tmp_path):
    # short pages (3 results) and no history keep the tiny tokenizer's byte-level prompts short
    shop = ["env.catalogue.num_products=300", "env.test_goals=20", "env.page_size=3",
            "env.search_results=9", "agent.max_steps=3", "agent.history_length=0"]
    sft_dir, _ = launch_run(tmp_path / "sft", "experiment=sft_webshop", *shop, "iterations=60",
                            "trainer.demo_tasks=12", "trainer.eval_tasks=2", *TINY_SFT, *GREEDY)
    trained = build_from_run(run_dir=str(sft_dir)).model.state_dict()
    untrained = build_tiny(cache_dir=str(tmp_path / "fresh"), hidden_size=128,
                           intermediate_size=512).model.state_dict()
    assert any(not torch.equal(trained[k], untrained[k]) for k in trained)  # the export holds the SFT weights
    _, rows = launch_run(tmp_path / "rl", "experiment=gigpo_webshop_from_sft", f"model.run_dir={sft_dir}",
                         *shop, *GREEDY[:2], "iterations=1", "trainer.tasks_per_iter=2",
                         "trainer.group_size=4", "trainer.eval_tasks=2", "trainer.eval_at_start=false",
                         "rollout.temperature=1.0", model="from_run")
    (it,) = rows
    assert it["advantages/abs_mean"] > 0  # rewards (invalid-action penalties, wins) vary in groups
    for key in ("loss/policy", "policy/grad_norm", "eval/pass@1"):
        assert math.isfinite(it[key]), key
    assert it["policy/grad_norm"] > 0
    assert it["env/format_valid_ratio"] > 0  # the SFT checkpoint, not a random model, was loaded
