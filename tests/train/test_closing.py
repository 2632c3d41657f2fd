"""The closing lines of a run: eval before -> after, curve PNGs, the estimator-comparison commands."""

from rlx.train.closing import sweep_overrides
from rlx.sweep.spec import expand, load_sweep
from tests.train.helpers import train_run


def test_sweep_overrides_drop_what_the_estimator_sweep_sets():
    run = ["model=tiny", "advantage=rloo", "seed=3", "trainer.lr=2e-5", "loss.policy.agg=token_mean",
           "+loss.policy.norm_len=64", "env.source.kinds=[addition]", "resume=auto"]
    assert sweep_overrides(run) == ["model=tiny", "trainer.lr=2e-5", "env.source.kinds=[addition]"]


def test_estimator_sweep_has_three_estimators_times_three_seeds():
    points = expand(load_sweep("sweeps/default_estimators.yaml"), ["model=tiny"])
    assert len(points) == 9
    assert {next(o for o in p if o.startswith("advantage=")) for p in points} == \
        {"advantage=grpo", "advantage=dr_grpo", "advantage=rloo"}
    assert all(p[-1] == "model=tiny" for p in points)


def test_a_finished_run_prints_its_eval_change_curves_and_the_compare_command(tmp_path, capsys):
    run_dir, rows = train_run(tmp_path, "iterations=2", "trainer.tasks_per_iter=2", "rollout.max_new_tokens=8",
                              "trainer.eval_at_start=true", "trainer.eval_tasks=2", "trainer.lr=2e-5")
    out = capsys.readouterr().out
    before, after = rows[0]["eval/pass@1"], rows[-1]["eval/pass@1"]
    assert f"rlx: eval pass@1 {before:.3f} (step 0) -> {after:.3f} (step 2)" in out
    for png in ("reward_mean.png", "eval_passat1.png"):
        path = run_dir / "curves" / png
        assert str(path) in out and path.read_bytes().startswith(b"\x89PNG")
    # the hint keeps the run's own overrides (the tiny model, the lr) and drops none it needs
    assert "python launch.py --sweep sweeps/default_estimators.yaml experiment=none model=tiny" in out
    assert "trainer.lr=2e-5" in out
    assert f"python -m rlx.compare {tmp_path / 'runs'}/sweeps/default_estimators/<timestamp> --by advantage" in out


def test_agent_sweep_pits_grpo_against_gigpo_on_step_rows():
    points = expand(load_sweep("sweeps/agent_estimators.yaml"), ["experiment=sft_alfworld"])
    assert len(points) == 6
    assert {next(o for o in p if o.startswith("advantage=")) for p in points} == {"advantage=grpo", "advantage=gigpo"}
    assert all("agent.sample_mode=step" in p and p[-1] == "experiment=sft_alfworld" for p in points)


def test_a_multi_turn_run_is_pointed_at_the_agent_sweep():
    from rlx.train.closing import compare_lines

    overrides = ["experiment=grpo_alfworld_from_sft", "agent.sample_mode=trajectory", "seed=4"]
    note = "\n".join(compare_lines(overrides, "runs", multi_turn=True))
    assert "GRPO vs GiGPO" in note
    assert "python launch.py --sweep sweeps/agent_estimators.yaml experiment=grpo_alfworld_from_sft\n" in note
    assert "runs/sweeps/agent_estimators/<timestamp> --by advantage" in note
    assert "default_estimators" not in note
    assert "sweeps/default_estimators.yaml" in "\n".join(compare_lines(overrides, "runs"))  # single-turn
