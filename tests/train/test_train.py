"""End-to-end training on CPU with the tiny model: runs, learns, resumes, reproduces."""

import json
import math

import pytest
import torch

from rlx.config.compose import check_overrides
from rlx.launch import prepare
from rlx.train.checkpoint import list_checkpoints, load_latest
from rlx.train.recipe import build_run
from rlx.run_dir import read_config
from tests.train.helpers import learning_metrics, train_run

FAST = ["iterations=2", "trainer.tasks_per_iter=2", "trainer.group_size=4", "rollout.max_new_tokens=12"]
# one update on a batch big enough that rewards differ within groups (non-zero advantages)
ONE_UPDATE = ["iterations=1", "env=sanity_digits", "trainer.tasks_per_iter=4", "trainer.group_size=8",
              "rollout.max_new_tokens=16", "trainer.lr=1e-2", "trainer.eval_tasks=2"]


def test_smoke_experiment_writes_run_dir(tmp_path):
    run_dir, rows = train_run(tmp_path, "experiment=smoke")
    assert [r["step"] for r in rows] == [1, 2]
    for key in ("reward/mean", "loss/policy", "policy/grad_norm", "perf/generation_tokens_per_s",
                "perf/update_tokens_per_s", "response_length/mean", "eval/pass@1"):
        assert key in rows[-1] and math.isfinite(rows[-1][key]), key
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for key in ("git", "packages", "seed", "host", "device", "overrides"):
        assert key in manifest
    assert manifest["packages"]["torch"].startswith("2.")
    assert read_config(run_dir)["experiment_name"] == "smoke"
    assert list_checkpoints(run_dir)[-1].name == "step_2"


def test_eval_at_start_logs_the_before_figure_at_step_0(tmp_path):
    _, rows = train_run(tmp_path, *FAST, "trainer.eval_at_start=true", "trainer.eval_tasks=3",
                        "trainer.checkpoint_every=1")
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert rows[0]["eval/num_tasks"] == 3.0 and 0.0 <= rows[0]["eval/pass@1"] <= 1.0
    assert "reward/mean" not in rows[0] and "eval/pass@1" in rows[-1]
    # a resumed run does not evaluate "before" again
    _, more = train_run(tmp_path, *FAST, "trainer.eval_at_start=true", "trainer.eval_tasks=3",
                        "trainer.checkpoint_every=1", "iterations=3", "resume=auto")
    assert [r["step"] for r in more] == [0, 1, 2, 3]


def test_every_trainable_parameter_changes_after_one_update(tmp_path):
    args = ["experiment=none", "model=tiny", "logger=none", f"runs_root={tmp_path}", *ONE_UPDATE]
    config, run_dir = prepare(check_overrides(args), choices={}, overrides=args)
    run = build_run(config, run_dir)
    before = {n: p.detach().clone() for n, p in run.model.named_parameters() if p.requires_grad}
    from rlx.train.loop import train

    assert train(run)["advantages/abs_mean"] > 0  # the batch carried a learning signal
    unchanged = [n for n, p in run.model.named_parameters()
                 if p.requires_grad and torch.equal(before[n], p.detach())]
    assert before and not unchanged, f"parameters not updated: {unchanged}"


def test_same_seed_same_metrics(tmp_path):
    _, a = train_run(tmp_path / "a", *FAST)
    _, b = train_run(tmp_path / "b", *FAST)
    assert learning_metrics(a) == learning_metrics(b)
    _, c = train_run(tmp_path / "c", *FAST, "seed=1")
    assert learning_metrics(a) != learning_metrics(c)


def test_resume_equals_straight_run(tmp_path):
    args = ["iterations=4", "trainer.tasks_per_iter=2", "rollout.max_new_tokens=12",
            "trainer.lr=1e-3", "trainer.checkpoint_every=1", "trainer.eval_every=2"]
    _, straight = train_run(tmp_path / "straight", *args)
    run_dir, first = train_run(tmp_path / "split", *args[1:], "iterations=2")
    assert len(first) == 2
    # a crash after iteration 2 would leave later checkpoints missing; resume continues from step 2
    _, resumed = train_run(tmp_path / "split", *args[1:], "iterations=4", f"resume={run_dir}")
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    assert learning_metrics(resumed) == learning_metrics(straight)


def test_resume_refuses_a_different_config(tmp_path):
    run_dir, _ = train_run(tmp_path, *FAST)
    with pytest.raises(Exception, match="differs from the saved run in advantage"):
        train_run(tmp_path, *FAST, "advantage=rloo", f"resume={run_dir}")


def test_corrupt_latest_checkpoint_falls_back(tmp_path):
    run_dir, _ = train_run(tmp_path, *FAST, "trainer.checkpoint_every=1")
    latest = list_checkpoints(run_dir)[-1]
    (latest / "state.pt").write_bytes(b"not a checkpoint")
    assert load_latest(run_dir)["step"] == 1


def test_grpo_learns_sanity_task(tmp_path):
    """The tiny random model learns to answer with digits: mean reward rises well above start."""
    _, rows = train_run(
        tmp_path, "env=sanity_digits", "iterations=40", "trainer.tasks_per_iter=4",
        "trainer.group_size=8", "trainer.micro_batch_size=32", "trainer.lr=3e-3",
        "rollout.max_new_tokens=8", "trainer.eval_every=0", "trainer.eval_tasks=4")
    rewards = [r["reward/mean"] for r in rows]
    start, end = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert end > start + 0.3, f"reward did not rise: {rewards}"


def test_kl_reference_and_gae_value_head_run(tmp_path):
    _, rows = train_run(tmp_path, *FAST, "advantage=gae", "loss.kl_coef=0.1")
    assert all(math.isfinite(r["loss/value"]) and math.isfinite(r["loss/kl"]) for r in rows)
    _, rows = train_run(tmp_path, *FAST, "loss.kl_coef=0.1", "loss.kl_in=reward")
    assert "reward/kl_penalty" in rows[-1]


def test_collect_groups_rollouts(tmp_path):
    args = ["experiment=none", "model=tiny", "logger=none", f"runs_root={tmp_path}", *FAST]
    config, run_dir = prepare(check_overrides(args), choices={}, overrides=args)
    run = build_run(config, run_dir)
    tasks = run.curriculum.sample(3)
    batch = run.collect(tasks, 4, seed=0)
    assert batch.group_ids.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert [t.uid for t in batch.tasks[:4]] == [tasks[0].uid] * 4
    assert batch.input_ids.shape == batch.action_mask.shape
    assert (batch.action_mask.sum(1) > 0).all()


def test_lora_with_gradient_checkpointing_trains_only_adapters(tmp_path):
    args = ["experiment=none", "model=tiny", "logger=none", f"runs_root={tmp_path}", *ONE_UPDATE,
            "model.lora={rank: 4, alpha: 8}", "model.gradient_checkpointing=true"]
    config, run_dir = prepare(check_overrides(args), choices={}, overrides=args)
    run = build_run(config, run_dir)
    before = {n: p.detach().clone() for n, p in run.model.named_parameters()}
    from rlx.train.loop import train

    assert train(run)["advantages/abs_mean"] > 0
    changed = {n for n, p in run.model.named_parameters() if not torch.equal(before[n], p.detach())}
    trainable = {n for n, p in run.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert changed <= trainable, f"frozen base weights changed: {changed - trainable}"
    assert any("lora_B" in n for n in changed)


def test_deterministic_mode_runs_and_repeats(tmp_path):
    try:
        _, a = train_run(tmp_path / "a", *FAST, "trainer.deterministic=true")
        assert torch.are_deterministic_algorithms_enabled()
        _, b = train_run(tmp_path / "b", *FAST, "trainer.deterministic=true")
    finally:
        torch.use_deterministic_algorithms(False)
    assert learning_metrics(a) == learning_metrics(b)


def test_a_logging_error_is_raised_after_the_iterations_checkpoint(tmp_path, monkeypatch):
    """A logger that raises (here metrics.jsonl at step 2) fails the run only once iteration 2 is
    checkpointed (not due otherwise: checkpoint_every=0), so a resume redoes nothing."""
    import rlx.train.recipe
    from rlx.logging.base import MetricsFile, read_metrics

    class FullDisk(MetricsFile):
        def log(self, metrics, step):
            super().log(metrics, step)
            if step == 2:
                raise OSError(28, "No space left on device")

    monkeypatch.setattr(rlx.train.recipe, "MetricsFile", FullDisk)
    with pytest.raises(OSError, match="No space left"):
        train_run(tmp_path, *FAST, "iterations=3", "trainer.checkpoint_every=0")
    (run_dir,) = [p.parent for p in (tmp_path / "runs").glob("**/config.yaml")]
    assert [p.name for p in list_checkpoints(run_dir)] == ["step_2"]
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")] == [1, 2]
