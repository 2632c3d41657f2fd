"""python -m rlx.replay RUN_DIR --resume: continues RUN_DIR and records the resume in its manifest."""

import json

import rlx.train.recipe
from rlx.logging.base import read_metrics
from rlx.replay import main as replay
from tests.launchers.slurm_helpers import prepare_run


def test_replay_resume_continues_the_run_and_records_the_resume(tmp_path):
    run_dir = prepare_run(tmp_path, "iterations=2")
    rlx.train.recipe.run(run_dir, should_stop=lambda: True)  # stops with a checkpoint at 1
    assert "resumes" not in json.loads((run_dir / "manifest.json").read_text())
    replay([str(run_dir), "--resume"])
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")] == [1, 2]
    (resume,) = json.loads((run_dir / "manifest.json").read_text())["resumes"]
    assert resume["reason"] == "rlx.replay --resume" and resume["from_step"] == 1
    assert resume["overrides"] == [] and resume["git_sha"] and resume["host"]
