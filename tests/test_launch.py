"""launch.py end to end in a subprocess, replay from a run directory, resume=auto."""

import json
import subprocess
import sys
from pathlib import Path

from rlx.logging.base import read_metrics
from rlx.run_dir import read_config
from tests.train.helpers import learning_metrics

ROOT = Path(__file__).resolve().parents[1]
TINY = ["experiment=none", "model=tiny", "logger=none", "iterations=2", "trainer.tasks_per_iter=2",
        "rollout.max_new_tokens=8", "trainer.eval_tasks=2"]


def python(*args, cwd):
    out = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out


def only_run(root: Path) -> Path:
    (run_dir,) = [p.parent for p in root.glob("**/config.yaml")]
    return run_dir


def test_launch_subprocess_mode_then_replay(tmp_path):
    out = python(str(ROOT / "launch.py"), *TINY, "launcher.mode=subprocess", "seed=7", cwd=tmp_path)
    run_dir = only_run(tmp_path / "runs")
    assert f"run directory {run_dir}" in out.stdout
    assert "iter 2/2" in out.stdout + out.stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert "seed=7" in manifest["overrides"] and manifest["choices"]["model"] == "tiny"
    assert read_config(run_dir)["seed"] == 7
    # replay from the directory alone, from another working directory
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    python("-m", "rlx.replay", str(run_dir), cwd=elsewhere)
    replay_dir = only_run(elsewhere / "runs")
    assert json.loads((replay_dir / "manifest.json").read_text())["replay_of"] == str(run_dir)
    assert learning_metrics(read_metrics(replay_dir / "metrics.jsonl")) == \
        learning_metrics(read_metrics(run_dir / "metrics.jsonl"))


def test_resume_auto_continues_newest_run(tmp_path):
    python(str(ROOT / "launch.py"), *TINY, "trainer.checkpoint_every=1", cwd=tmp_path)
    run_dir = only_run(tmp_path / "runs")
    out = python(str(ROOT / "launch.py"), *TINY, "trainer.checkpoint_every=1", "iterations=3",
                 "resume=auto", cwd=tmp_path)
    assert "resumed from checkpoint at iteration 2" in out.stdout
    assert only_run(tmp_path / "runs") == run_dir
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")] == [1, 2, 3]
    assert len(json.loads((run_dir / "manifest.json").read_text())["resumes"]) == 1


def refused(tmp_path, *overrides, env=None):
    """launch.py with bad input: exit 2, `rlx: invalid config`, no run dir, no W&B files."""
    import os

    out = subprocess.run([sys.executable, str(ROOT / "launch.py"), *TINY, *overrides],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, **(env or {})})
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-4000:]
    assert out.stderr.startswith("rlx: invalid config"), out.stderr[-4000:]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists() and not list(tmp_path.glob("**/wandb"))
    return out.stderr


def test_bad_values_are_refused_before_a_run_dir(tmp_path):
    assert "rollout.temperature: must be >= 0, got -1" in refused(tmp_path, "rollout.temperature=-1")
    assert "iterations: must be >= 1, got 0" in refused(tmp_path, "iterations=0")
    assert "iterations: must be >= 1, got -1" in refused(tmp_path, "iterations=-1", "logger=wandb",
                                                         env={"WANDB_MODE": "offline"})
    # a constructor's own ValueError (Objective.__post_init__), named by its key
    assert "loss: kl_coef and value_coef must be >= 0" in refused(tmp_path, "loss.kl_coef=-0.1")


def test_alfworld_split_without_games_is_refused_before_a_run_dir(tmp_path):
    root = tmp_path / "alfworld" / "json_2.1.1"
    game = root / "train" / "pick_and_place_simple-Book-None-Desk-3" / "trial_T1"
    game.mkdir(parents=True)
    (game / "traj_data.json").write_text("{}")
    grammar = '"task": [{"rhs": "Your task is to: put a book in desk."}]'
    (game / "game.tw-pddl").write_text(json.dumps({"solvable": True, "grammar": grammar,
                                                   "walkthrough": ["go to desk 1"]}))
    (root / "valid_seen").mkdir()
    (root / "valid_unseen").mkdir()
    message = refused(tmp_path, "env=alfworld_official", f"env.games.data_path={tmp_path / 'alfworld'}",
                      "env.games.eval_split=valid_unseen", "agent=alfworld")
    assert "env.games: ALFWorld data: no playable game for split 'eval' (folder 'valid_unseen')" in message
    assert "train: 1 playable of 1 found" in message


def test_status_lists_the_points_of_a_hydra_multirun(tmp_path):
    from rlx.status import report

    python(str(ROOT / "launch.py"), "-m", *TINY, "iterations=1", "env=sanity_digits",
           "trainer.group_size=2", "seed=0,1", cwd=tmp_path)
    (parent,) = {p.parent.parent for p in (tmp_path / "runs").glob("**/config.yaml")}
    assert sorted(p.name for p in parent.iterdir()) == ["0", "1"]
    text, failed = report(parent)
    lines = text.splitlines()
    assert failed == 0 and "(multirun)" in lines[0] and "2 done" in lines[0], text
    assert [line.split()[:4] for line in lines[1:]] == [["000", "done", "it", "1/1"],
                                                        ["001", "done", "it", "1/1"]]
    assert lines[1].endswith("seed=0") and lines[2].endswith("seed=1")
    status = subprocess.run([sys.executable, "-m", "rlx.status", str(parent)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and status.stdout == text + "\n"


def test_another_env_without_an_experiment_is_told_the_quickstart_settings_still_apply():
    from rlx.launch import quickstart_note

    note = quickstart_note(["env=gsm8k", "seed=1"])
    assert "experiment=quickstart" in note and "max_new_tokens=24" in note and "experiment=none" in note
    assert quickstart_note(["env=gsm8k", "experiment=none"]) is None
    assert quickstart_note(["experiment=smoke", "env=math"]) is None
    assert quickstart_note(["advantage=rloo", "seed=2"]) is None  # the estimator sweep keeps the default run
    assert quickstart_note([]) is None


def test_the_quickstart_note_names_what_the_experiment_file_sets(tmp_path):
    from rlx.launch import quickstart_note

    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "quickstart.yaml").write_text(
        "defaults:\n  - override /env: addition\niterations: 3\nrollout:\n  max_new_tokens: 48\n")
    note = quickstart_note(["+env=gsm8k"], conf_dir=tmp_path / "conf")
    assert "iterations=3, rollout.max_new_tokens=48 (conf/experiment/quickstart.yaml)" in note
    assert "override" not in note and "trainer.lr" not in note
