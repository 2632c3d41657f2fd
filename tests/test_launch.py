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
