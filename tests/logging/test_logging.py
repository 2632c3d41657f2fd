"""metrics.jsonl and the offline W&B run."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rlx.logging.base import MetricsFile, flatten, read_metrics
from rlx.logging.wandb_logger import RUN_ID_FILE, WandbLogger, wandb_files
from tests.logging.helpers import all_history_steps, service_pids, waitpid_or_zombie, wandb_records


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





def test_a_fresh_wandb_run_is_not_recorded_as_a_resume(tmp_path):
    for _ in range(2):  # a fresh run, then its resume
        logger = WandbLogger(tmp_path, {"seed": 1}, [], mode="offline")
        logger.finish()
    run_id = (tmp_path / RUN_ID_FILE).read_text()
    first, second = wandb_files(tmp_path, run_id)
    (fresh,) = [r["run"] for r in wandb_records(first) if r["type"] == "run"]
    (resumed,) = [r["run"] for r in wandb_records(second) if r["type"] == "run"]
    assert "resume" not in fresh and resumed["resume"] is True


@pytest.mark.parametrize("kill_after", [2, 4])  # mid-run (the next log fails) or after the last log
def test_wandb_logger_survives_its_service_being_killed(tmp_path, kill_after):
    """SIGTERM to wandb-core (what SLURM's scancel / requeue do): no error reaches the caller, and
    the W&B files of the run id together hold every step once (those the dead service lost are
    logged again from metrics.jsonl)."""
    metrics = MetricsFile(tmp_path / "metrics.jsonl")
    logger = WandbLogger(tmp_path, {"seed": 1}, [], mode="offline")
    for step in (1, 2, 3, 4):
        row = {"reward/mean": step / 10, "bad": float("nan")}
        metrics.log(row, step=step)
        logger.log(row, step=step)
        if step == kill_after:
            (pid,) = service_pids()
            os.kill(pid, signal.SIGTERM)
            waitpid_or_zombie(pid)
    logger.finish()
    assert all_history_steps(tmp_path) == [1, 2, 3, 4]
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4]



KILLED_RUN = """
import os, signal, sys
from pathlib import Path
from rlx.logging.base import MetricsFile
from rlx.logging.wandb_logger import WandbLogger
from tests.logging.helpers import service_pids
run_dir = Path(sys.argv[1])
metrics, logger = MetricsFile(run_dir / "metrics.jsonl"), WandbLogger(run_dir, {}, [], mode="offline")
for step in (1, 2, 3):
    metrics.log({"x": step}, step=step)
    logger.log({"x": step}, step=step)
for pid in service_pids():
    os.kill(pid, signal.SIGKILL)
os._exit(0)  # killed too: no finish, nothing of steps 1-3 reached the W&B file
"""


def test_a_resumed_wandb_logger_logs_the_steps_a_killed_process_lost(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}  # its own service
    out = subprocess.run([sys.executable, "-c", KILLED_RUN, str(tmp_path)], capture_output=True,
                         text=True, timeout=300, cwd=Path(__file__).resolve().parents[2], env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert all_history_steps(tmp_path) == []
    logger = WandbLogger(tmp_path, {}, [], mode="offline")  # the resume (metrics.jsonl: 1-3)
    logger.log({"x": 4}, step=4)
    logger.finish()
    assert all_history_steps(tmp_path) == [1, 2, 3, 4]
