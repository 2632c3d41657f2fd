"""launcher=slurm against a real SLURM cluster (scripts/slurm/start.sh): submission returns at once,
jobs and job arrays finish, failures are reported, a timeout signal or a hard kill followed by a
requeue resumes without lost or repeated iterations, and gpus_per_node reaches the job."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import submitit
import yaml

from rlx.launchers.slurm import SlurmLauncher, last_step, read_job_record
from rlx.logging.base import read_metrics
from rlx.logging.wandb_logger import RUN_ID_FILE
from rlx.run_status import read_status
from tests.logging.helpers import all_history_steps
from tests.launchers.slurm_helpers import (SMALL_JOB, TINY, job_states, prepare_run, task_pids,
                                           wait_final, wait_for_text)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("slurm")]


def small_launcher(**overrides) -> SlurmLauncher:
    return SlurmLauncher(**{"gpus_per_node": 0, "cpus_per_task": 1, "time_min": 5, **overrides})


def steps(run_dir: Path) -> list[int]:
    return [row["step"] for row in read_metrics(run_dir / "metrics.jsonl")]


def test_launch_py_returns_at_once_then_the_job_completes(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "launch.py"), *TINY, *SMALL_JOB],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    job_id = re.search(r"submitted SLURM job (\d+)", out.stdout).group(1)
    state = subprocess.run(["squeue", "-h", "--states=all", "-j", job_id, "-o", "%T"],
                           capture_output=True, text=True).stdout.strip()
    assert state in ("PENDING", "CONFIGURING", "RUNNING"), state  # launch.py did not wait for it
    (run_dir,) = [p.parent for p in (tmp_path / "runs").glob("**/config.yaml")]
    record = read_job_record(run_dir)
    assert record["job_id"] == job_id and record["stdout"] == str(run_dir / "slurm" / f"{job_id}_0_log.out")
    assert f"squeue -j {job_id}" in out.stdout and f"tail -f {record['stdout']}" in out.stdout
    assert wait_final(job_id) == "COMPLETED"
    assert steps(run_dir) == [1, 2]
    assert (run_dir / "checkpoints" / "step_2" / "state.pt").exists()
    assert "iter 2/2" in Path(record["stdout"]).read_text()


def test_job_array_of_three_runs(tmp_path):
    run_dirs = [prepare_run(tmp_path / f"p{seed}", f"seed={seed}") for seed in (0, 1, 2)]
    ids = small_launcher(array_parallelism=2).launch_array(run_dirs)
    array_id = ids[0].split("_")[0]
    assert ids == [f"{array_id}_0", f"{array_id}_1", f"{array_id}_2"]
    assert [wait_final(i) for i in ids] == ["COMPLETED"] * 3
    for seed, (run_dir, job_id) in enumerate(zip(run_dirs, ids)):
        assert read_job_record(run_dir)["job_id"] == job_id
        assert steps(run_dir) == [1, 2]
        assert yaml.safe_load((run_dir / "config.yaml").read_text())["seed"] == seed
        assert f"training {run_dir}" in Path(read_job_record(run_dir)["stdout"]).read_text()


def test_failing_run_is_reported_failed(tmp_path):
    run_dir = prepare_run(tmp_path)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["model"]["_target_"] = "rlx.models.no_such_builder"  # training raises when it builds
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    job_id = small_launcher().launch(run_dir)
    assert wait_final(job_id) == "FAILED"
    record = read_job_record(run_dir)
    err = submitit.SlurmJob(folder=record["folder"], job_id=job_id).exception()
    assert isinstance(err, submitit.core.utils.FailedJobError) and "no_such_builder" in str(err)
    assert "no_such_builder" in Path(record["stderr"]).read_text()


def test_timeout_signal_checkpoints_requeues_and_resumes(tmp_path):
    """USR2 (what SLURM sends signal_delay_s before the time limit) during the first iteration:
    stop at the boundary with a checkpoint, requeue, resume in the same W&B run."""
    run_dir = prepare_run(tmp_path, "iterations=3", "logger=wandb", "logger.mode=offline")
    job_id = small_launcher().launch(run_dir)
    log = Path(read_job_record(run_dir)["stdout"])
    wait_for_text(log, "rlx: SLURM job")  # the job's own signal handlers are in place
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)
    assert wait_final(job_id) == "COMPLETED"
    assert job_states(job_id) == ["REQUEUED", "COMPLETED"]
    assert steps(run_dir) == [1, 2, 3]
    text = log.read_text()
    stopped = int(re.search(r"stop requested; checkpoint saved at iteration (\d)", text).group(1))
    assert stopped < 3 and f"resumed from checkpoint at iteration {stopped}" in text
    (resume,) = json.loads((run_dir / "manifest.json").read_text())["resumes"]
    assert resume["reason"] == "slurm requeue" and resume["slurm_restart_count"] == 1
    assert resume["from_step"] == stopped and resume["slurm_job_id"] == job_id
    run_id = (run_dir / RUN_ID_FILE).read_text().strip()
    assert len(list((run_dir / "wandb").glob(f"offline-run-*-{run_id}"))) == 2  # one W&B run, twice


def test_hard_kill_then_requeue_resumes_from_last_checkpoint(tmp_path):
    """The training process is SIGKILLed (no chance to checkpoint) and the job requeued from outside:
    it restarts from the last complete checkpoint and drops the metrics logged after it."""
    run_dir = prepare_run(tmp_path, "iterations=6", "trainer.checkpoint_every=2",
                          "rollout.max_new_tokens=24")
    job_id = small_launcher().launch(run_dir)
    log = Path(read_job_record(run_dir)["stdout"])
    wait_for_text(log, "iter 1/6", every_s=0.05)
    for pid in task_pids(job_id):
        os.kill(pid, signal.SIGKILL)
    logged_before, checkpoint_before = steps(run_dir), last_step(run_dir)
    subprocess.run(["scontrol", "requeue", job_id], check=True)
    assert wait_final(job_id) == "COMPLETED"
    assert 1 <= len(logged_before) < 6 and checkpoint_before in (0, 2, 4)  # killed mid-run
    assert steps(run_dir) == [1, 2, 3, 4, 5, 6]
    (resume,) = json.loads((run_dir / "manifest.json").read_text())["resumes"]
    assert resume["slurm_restart_count"] == 1
    assert resume["from_step"] == checkpoint_before  # the last complete checkpoint


def test_gpus_per_node_reach_the_job_as_cuda_visible_devices(tmp_path):
    launcher = SlurmLauncher(gpus_per_node=2, cpus_per_task=1, time_min=5,
                             setup=[f"echo \"$CUDA_VISIBLE_DEVICES\" > {tmp_path / 'batch_cvd'}"])
    executor = launcher._executor(tmp_path / "slurm", "rlx-gres")
    job = executor.submit(os.getenv, "CUDA_VISIBLE_DEVICES")
    assert job.results() == ["0,1", "0,1"]  # one task per GPU, each seeing the node's two GPUs
    assert (tmp_path / "batch_cvd").read_text().strip() == "0,1"
    one = SlurmLauncher(gpus_per_node=1, cpus_per_task=1, time_min=5)._executor(tmp_path / "one", "rlx-gres")
    assert one.submit(os.getenv, "CUDA_VISIBLE_DEVICES").results() == ["0"]


# SIGTERM from outside (`scontrol requeue`, `scancel`, preemption) reaches every process of the job
# step, W&B's service included; checkpoint_every=0, so a checkpoint before the end is the stop's own.
# The iteration under way must end within SLURM's KillWait (30 s) before SIGKILL: TINY's short ones.
SIGNALLED = ["iterations=4", "logger=wandb", "logger.mode=offline", "trainer.checkpoint_every=0"]


def wait_until(check, what: str, timeout_s: float = 180, every_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every_s)
    raise TimeoutError(f"{what} did not happen within {timeout_s}s")


def queue_state(job_id: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True,
                          text=True).stdout.strip()


def own_state(run_dir: Path) -> str | None:
    return (read_status(run_dir) or {}).get("state")


def rlx_status(run_dir: Path) -> tuple[int, str]:
    """(exit code, the point's line) of `python -m rlx.status RUN_DIR`."""
    out = subprocess.run([sys.executable, "-m", "rlx.status", str(run_dir)], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    return out.returncode, out.stdout.splitlines()[1]


def test_external_requeue_checkpoints_at_the_stop_says_requeued_and_resumes_there(tmp_path):
    """`scontrol requeuehold` (a requeue that stays pending until released) during the run: the
    iteration under way finishes and is checkpointed although W&B's service was killed; while the job
    waits, rlx.status says requeued; the requeued job resumes at that checkpoint (no iteration run
    twice), and metrics.jsonl and all W&B files of the run id hold every step exactly once."""
    run_dir = prepare_run(tmp_path, *SIGNALLED)
    job_id = small_launcher().launch(run_dir)
    log = Path(read_job_record(run_dir)["stdout"])
    wait_for_text(log, "iter 1/4", every_s=0.05)
    subprocess.run(["scontrol", "requeuehold", job_id], check=True)
    wait_until(lambda: own_state(run_dir) == "stopped" and queue_state(job_id) == "PENDING",
               "the stop and the pending requeue")
    stopped = last_step(run_dir)
    assert 1 <= stopped < 4 and steps(run_dir) == list(range(1, stopped + 1))
    code, line = rlx_status(run_dir)
    assert code == 0 and line.split()[1:4] == ["requeued", "it", f"{stopped}/4"], line
    subprocess.run(["scontrol", "release", job_id], check=True)
    assert wait_final(job_id) == "COMPLETED"
    assert job_states(job_id)[-1] == "COMPLETED" and len(job_states(job_id)) == 2
    text = log.read_text()
    assert f"stop requested; checkpoint saved at iteration {stopped}" in text
    assert f"resumed from checkpoint at iteration {stopped}" in text
    assert re.findall(r"^iter (\d)/4", text, re.M) == ["1", "2", "3", "4"]  # none run twice
    assert steps(run_dir) == [1, 2, 3, 4] and all_history_steps(run_dir) == [1, 2, 3, 4]
    (resume,) = json.loads((run_dir / "manifest.json").read_text())["resumes"]
    assert resume["from_step"] == stopped and own_state(run_dir) == "done"


def test_scancel_leaves_a_checkpoint_and_status_says_cancelled(tmp_path):
    """`scancel` during the run: the iteration under way finishes and is checkpointed, status.json
    says stopped (not failed), rlx.status says cancelled (from sacct), W&B holds every step once."""
    run_dir = prepare_run(tmp_path, *SIGNALLED)
    job_id = small_launcher().launch(run_dir)
    log = Path(read_job_record(run_dir)["stdout"])
    wait_for_text(log, "iter 1/4", every_s=0.05)
    subprocess.run(["scancel", job_id], check=True)
    assert wait_final(job_id) == "CANCELLED"
    wait_until(lambda: not queue_state(job_id), "the end of the cancelled job's processes")
    stopped = last_step(run_dir)
    assert 1 <= stopped < 4 and steps(run_dir) == list(range(1, stopped + 1))
    assert f"stop requested; checkpoint saved at iteration {stopped}" in log.read_text()
    assert own_state(run_dir) == "stopped"
    code, line = rlx_status(run_dir)
    assert code == 0 and line.split()[1:4] == ["cancelled", "it", f"{stopped}/4"], line
    assert all_history_steps(run_dir) == list(range(1, stopped + 1))
