"""metrics.jsonl and the offline W&B run."""

import json
import subprocess
import sys

from rlx.logging.base import MetricsFile, flatten, read_metrics
from rlx.logging.wandb_logger import RUN_ID_FILE, WandbLogger


def test_metrics_file_appends_and_truncates_on_resume(tmp_path):
    path = tmp_path / "metrics.jsonl"
    m = MetricsFile(path)
    for step in (1, 2, 3):
        m.log({"reward/mean": step / 10, "bad": float("nan")}, step=step)
    assert [r["step"] for r in read_metrics(path)] == [1, 2, 3]
    assert read_metrics(path)[0] == {"step": 1, "reward/mean": 0.1, "bad": None}
    MetricsFile(path, resume_step=2)  # a resume from checkpoint 2 drops step 3
    assert [r["step"] for r in read_metrics(path)] == [1, 2]


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3}) == {"a.b": 1, "a.c.d": 2, "e": 3}


def test_wandb_offline_run_keeps_id_and_history(tmp_path):
    config = {"advantage": {"_target_": "rlx.algos.advantages.grpo", "std": "group"}, "seed": 3}
    logger = WandbLogger(tmp_path, config, ["advantage:grpo"], mode="offline", group="exp")
    logger.log({"reward/mean": 0.5}, step=1)
    logger.log({"reward/mean": 0.75}, step=2)
    logger.finish()
    run_id = (tmp_path / RUN_ID_FILE).read_text()
    files = list((tmp_path / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    assert len(files) == 1
    # read it back the way users inspect offline runs
    out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--summary", "--json",
                          str(files[0].parent)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["summary"]["reward/mean"] == 0.75 and data["step"] == 2
    assert data["config"]["advantage.std"] == "group" and data["tags"] == ["advantage:grpo"]
    # a resumed logger reuses the stored run id
    again = WandbLogger(tmp_path, config, [], mode="offline")
    again.finish()
    assert (tmp_path / RUN_ID_FILE).read_text() == run_id
