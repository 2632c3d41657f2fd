"""launcher=slurm without a cluster: config keys -> sbatch options, validation, dry runs, and the
stop/requeue logic of the job (with a stand-in `scontrol`)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

import rlx.train.loop
import rlx.train.recipe
from rlx.config.compose import check_overrides
from rlx.config.validate import ConfigError
from rlx.launch import validate_config
from rlx.launchers.slurm import (JOB_FILE, TIMEOUT_SIGNAL, SlurmLauncher, StopRequest, TrainJob,
                                 array_folder, fresh_folder, last_step)
from rlx.logging.base import read_metrics
from tests.launchers.slurm_helpers import TINY, prepare_run
from tests.train.helpers import learning_metrics

ROOT = Path(__file__).resolve().parents[2]


def config_for(*overrides: str) -> dict:
    return OmegaConf.to_container(check_overrides(["launcher=slurm", *overrides]), resolve=True)


def test_config_keys_map_to_sbatch_parameters():
    launcher = SlurmLauncher(partition="gpu", account="lab", qos="high", time_min=240, nodes=2,
                             gpus_per_node=4, cpus_per_task=8, mem_gb=64, constraint="a100",
                             additional_sbatch={"mail-type": "END"}, setup=["module load cuda"],
                             signal_delay_s=120, array_parallelism=5)
    assert launcher.sbatch_parameters("rlx-exp") == {
        "job_name": "rlx-exp", "time": 240, "nodes": 2, "ntasks_per_node": 4, "gpus_per_node": 4,
        "cpus_per_task": 8, "partition": "gpu", "account": "lab", "qos": "high", "constraint": "a100",
        "setup": ["module load cuda"], "signal_delay_s": 120, "array_parallelism": 5,
        "additional_parameters": {"requeue": True, "mem": "64G", "mail-type": "END"},
    }
    assert launcher.world_size({}) == 8


def test_cpu_only_job_has_one_task_and_no_gpu_line():
    params = SlurmLauncher(gpus_per_node=0, cpus_per_task=None, mem_gb=1.5).sbatch_parameters("x")
    assert params["ntasks_per_node"] == 1 and "gpus_per_node" not in params
    assert "cpus_per_task" not in params and "partition" not in params
    assert params["additional_parameters"]["mem"] == "1536M"


def test_conf_launcher_slurm_builds_the_documented_defaults():
    launcher = instantiate(config_for()["launcher"])
    assert isinstance(launcher, SlurmLauncher)
    assert (launcher.time_min, launcher.gpus_per_node, launcher.signal_delay_s, launcher.max_requeues,
            launcher.dry_run) == (60, 1, 90, 3, False)


@pytest.mark.parametrize("override,message", [
    ("launcher.time_min=0", "launcher.time_min must be >= 1, got 0"),
    ("launcher.time_min=2", "launcher.signal_delay_s=90 leaves no run time in launcher.time_min=2"),
    ("launcher.gpus_per_node=-1", "launcher.gpus_per_node must be >= 0, got -1"),
    ("launcher.mem_gb=0", "launcher.mem_gb must be > 0"),
    ("launcher.gpus_per_node=two", "launcher.gpus_per_node: expected an int, got 'two'"),
    ("launcher.additional_sbatch=5", "launcher.additional_sbatch: expected a mapping"),
])
def test_bad_values_fail_validation_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        validate_config(config_for(override))


def test_misspelt_key_suggests_the_right_one():
    with pytest.raises(ConfigError, match='launcher.partiton.*did you mean "partition"'):
        config_for("launcher.partiton=gpu")


def test_tasks_must_split_over_the_gpus():
    with pytest.raises(ConfigError, match="tasks_per_iter"):
        validate_config(config_for("launcher.gpus_per_node=3", "trainer.tasks_per_iter=4"))


def test_fresh_folder_and_array_folder(tmp_path):
    assert fresh_folder(tmp_path / "slurm") == tmp_path / "slurm"
    (tmp_path / "slurm").mkdir()
    assert fresh_folder(tmp_path / "slurm") == tmp_path / "slurm"  # empty: still fresh
    (tmp_path / "slurm" / "1_submitted.pkl").write_text("")
    assert fresh_folder(tmp_path / "slurm") == tmp_path / "slurm" / "resubmit_1"
    (tmp_path / "slurm" / "resubmit_1").mkdir()
    assert fresh_folder(tmp_path / "slurm") == tmp_path / "slurm" / "resubmit_2"
    assert array_folder([tmp_path / "sweep" / "0", tmp_path / "sweep" / "1"]) == tmp_path / "sweep" / "slurm"
    assert array_folder([tmp_path / "sweep" / "0"]) == tmp_path / "sweep" / "slurm"


def fake_command(tmp_path: Path, name: str) -> Path:
    """A stand-in `name` on PATH that appends its arguments to tmp_path/<name>.calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    calls = tmp_path / f"{name}.calls"
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\necho "Submitted batch job 99"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return calls


@pytest.mark.slow
def test_dry_run_prints_the_sbatch_script_and_submits_nothing(tmp_path):
    calls = fake_command(tmp_path, "sbatch")
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    out = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *TINY, "launcher=slurm", "launcher.dry_run=true",
         "launcher.partition=debug", "launcher.time_min=7", "launcher.gpus_per_node=1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = [p.parent for p in (tmp_path / "runs").glob("**/config.yaml")]
    for line in ("#!/bin/bash", "#SBATCH --partition=debug", "#SBATCH --time=7",
                 "#SBATCH --gpus-per-node=1", "#SBATCH --ntasks-per-node=1", "#SBATCH --signal=USR2@90",
                 "#SBATCH --requeue", f"#SBATCH --output={run_dir}/slurm/%j_0_log.out",
                 "-m submitit.core._submit", f"resolved config: {run_dir / 'config.yaml'}"):
        assert line in out.stdout, line
    assert not calls.exists() and not (run_dir / "slurm").exists() and not (run_dir / JOB_FILE).exists()


def test_array_dry_run_prints_one_array_script(tmp_path, capsys):
    run_dirs = [prepare_run(tmp_path / "sweep", f"seed={s}") for s in (0, 1, 2)]
    assert SlurmLauncher(dry_run=True, array_parallelism=2).launch_array(run_dirs) == []
    out = capsys.readouterr().out
    assert "#SBATCH --array=0-2%2" in out and out.count("#!/bin/bash") == 1
    assert all(str(d / "config.yaml") in out for d in run_dirs)


@pytest.fixture
def restore_signals():
    saved = {s: signal.getsignal(s) for s in (TIMEOUT_SIGNAL, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def test_stop_request_sets_a_flag_and_requeues_if_no_boundary_comes(restore_signals):
    fired = []
    stop = StopRequest(on_timeout=lambda: fired.append(time.monotonic()), timeout_deadline_s=0.2)
    stop.install()
    assert not stop.is_set()
    os.kill(os.getpid(), TIMEOUT_SIGNAL)
    assert stop.is_set() and stop.signal == TIMEOUT_SIGNAL  # polled at a boundary: timer cancelled
    time.sleep(0.4)
    assert fired == []
    late = StopRequest(on_timeout=lambda: fired.append(time.monotonic()), timeout_deadline_s=0.05)
    late.install()
    os.kill(os.getpid(), TIMEOUT_SIGNAL)
    late.timer.join(2)  # never polled (an iteration longer than the warning): the timer requeues
    assert len(fired) == 1
    term = StopRequest(on_timeout=lambda: fired.append(0.0), timeout_deadline_s=0.05)
    term.install()
    os.kill(os.getpid(), signal.SIGTERM)
    assert term.signal == signal.SIGTERM and term.timer is None and term.is_set()


@pytest.mark.slow
def test_should_stop_checkpoints_and_the_resumed_run_matches_an_uninterrupted_one(tmp_path):
    whole = prepare_run(tmp_path / "whole", "iterations=3")
    rlx.train.recipe.run(whole)
    split = prepare_run(tmp_path / "split", "iterations=3")
    rlx.train.recipe.run(split, should_stop=lambda: True)  # stops after the first iteration
    assert last_step(split) == 1 and [r["step"] for r in read_metrics(split / "metrics.jsonl")] == [1]
    rlx.train.recipe.run(split)
    assert learning_metrics(read_metrics(split / "metrics.jsonl")) == \
        learning_metrics(read_metrics(whole / "metrics.jsonl"))


@pytest.mark.slow
def test_train_job_requeues_itself_on_the_timeout_signal_up_to_max_requeues(
        tmp_path, monkeypatch, restore_signals):
    calls = fake_command(tmp_path, "scontrol")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("SLURM_PROCID", "0")
    real_run = rlx.train.recipe.run

    def run_signalled(run_dir, should_stop=None):  # SLURM's warning arrives as training starts
        os.kill(os.getpid(), TIMEOUT_SIGNAL)
        return real_run(run_dir, should_stop=should_stop)

    monkeypatch.setattr(rlx.train.recipe, "run", run_signalled)
    run_dir = prepare_run(tmp_path, "iterations=3")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    with pytest.raises(SystemExit, match="requeued"):
        TrainJob(run_dir, max_requeues=1)()
    assert calls.read_text() == "requeue 42\n" and last_step(run_dir) == 1
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # the requeued job: its one requeue is used up
    with pytest.raises(RuntimeError, match=r"launcher.max_requeues=1\): not requeued"):
        TrainJob(run_dir, max_requeues=1)()
    assert calls.read_text() == "requeue 42\n" and last_step(run_dir) == 2
    (resume,) = json.loads((run_dir / "manifest.json").read_text())["resumes"]
    assert resume["reason"] == "slurm requeue" and resume["from_step"] == 1
    monkeypatch.setattr(rlx.train.recipe, "run", real_run)  # no signal: runs to the end
    assert TrainJob(run_dir, max_requeues=1)()["train/iteration"] == 3
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")] == [1, 2, 3]


@pytest.mark.slow
def test_sigterm_to_the_job_and_its_wandb_service_checkpoints_at_the_stop_and_resumes(
        tmp_path, monkeypatch, restore_signals):
    """What `scancel` / `scontrol requeue` do, without a cluster: SIGTERM reaches the trainer and
    W&B's service during iteration 2. The iteration finishes, its checkpoint is written, the run
    says `stopped` (not failed); the resumed job redoes nothing, and metrics.jsonl and the W&B files
    of the run id together hold every step once."""
    from rlx.run_status import read_status
    from tests.logging.helpers import all_history_steps, service_pids

    monkeypatch.setenv("SLURM_JOB_ID", "43")
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    real_collect, fired = rlx.train.loop.collect_batch, []

    def collect_signalled(run, it):
        if it == 1 and not fired:
            fired.append(service_pids())
            for pid in fired[0]:
                os.kill(pid, signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
        return real_collect(run, it)

    monkeypatch.setattr(rlx.train.loop, "collect_batch", collect_signalled)
    run_dir = prepare_run(tmp_path, "iterations=4", "logger=wandb", "logger.mode=offline")
    with pytest.raises(SystemExit, match="stopped by SIGTERM after a checkpoint"):
        TrainJob(run_dir)()
    assert len(fired[0]) == 1  # the W&B service was running, and was killed
    assert read_status(run_dir)["state"] == "stopped" and last_step(run_dir) == 2
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")] == [1, 2]
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # the requeued job
    assert TrainJob(run_dir)()["train/iteration"] == 4
    (resume,) = json.loads((run_dir / "manifest.json").read_text())["resumes"]
    assert resume["from_step"] == 2 and read_status(run_dir)["state"] == "done"
    assert [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")] == [1, 2, 3, 4]
    assert all_history_steps(run_dir) == [1, 2, 3, 4]
