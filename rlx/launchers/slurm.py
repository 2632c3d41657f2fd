"""Submit run directories to SLURM through submitit: one job per run, or one job array for a sweep.

Submission does not wait: `launch` queues the job, writes `<run_dir>/slurm_job.json` and returns.
In the job, `TrainJob` trains the run directory (`rlx.train.recipe.run`). When SLURM announces the
end of the job (the timeout signal, sent `signal_delay_s` before the time limit, or a preemption
signal), training stops at the next iteration boundary, checkpoints, and the job requeues itself;
the requeued job resumes from that checkpoint with the same metrics.jsonl and W&B run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from submitit.slurm.slurm import SlurmJobEnvironment, _make_sbatch_string

from rlx.run_dir import read_config, record_resume
from rlx.train.checkpoint import list_checkpoints

JOB_FILE = "slurm_job.json"
# the signal submitit's sbatch script asks SLURM to send before the time limit (SUBMITIT_PREEMPT_SIGNAL)
TIMEOUT_SIGNAL = getattr(signal, f"SIG{SlurmJobEnvironment.USR_SIG}")
# sbatch's --signal documentation: the signal may be sent up to 60 s before the time asked for
SIGNAL_EARLY_S = 60


class SlurmLauncher:
    """Queue prepared run directories on SLURM (through submitit's `SlurmExecutor`).

    partition/account/qos/constraint: the sbatch options of those names (null: the cluster default).
    time_min: time limit per job (each requeue gets a fresh one). nodes, gpus_per_node: one task per
    GPU (`--ntasks-per-node=max(1, gpus_per_node)`). cpus_per_task, mem_gb (per node; null: the
    cluster default). additional_sbatch: extra `#SBATCH --key=value` lines. setup: shell lines run in
    the batch script before the job (module loads, `source .venv/bin/activate`, exports).
    signal_delay_s: seconds between the timeout signal and the time limit (an iteration plus a
    checkpoint must fit in it). max_requeues: how often a job may requeue itself. array_parallelism:
    how many elements of a job array may run at once. dry_run: print the sbatch script, submit nothing.
    """

    def __init__(
        self,
        partition: str | None = None,
        account: str | None = None,
        qos: str | None = None,
        time_min: int = 60,
        nodes: int = 1,
        gpus_per_node: int = 1,
        cpus_per_task: int | None = 2,
        mem_gb: float | None = None,
        constraint: str | None = None,
        additional_sbatch: dict[str, Any] | None = None,
        setup: list[str] | None = None,
        signal_delay_s: int = 90,
        max_requeues: int = 3,
        array_parallelism: int = 16,
        dry_run: bool = False,
    ):
        limits = {"time_min": (time_min, 1), "nodes": (nodes, 1), "gpus_per_node": (gpus_per_node, 0),
                  "cpus_per_task": (cpus_per_task, 1), "signal_delay_s": (signal_delay_s, 0),
                  "max_requeues": (max_requeues, 0), "array_parallelism": (array_parallelism, 1)}
        for key, (value, least) in limits.items():
            if value is not None and value < least:
                raise ValueError(f"launcher.{key} must be >= {least}, got {value}")
        if signal_delay_s + SIGNAL_EARLY_S >= time_min * 60:
            raise ValueError(
                f"launcher.signal_delay_s={signal_delay_s} leaves no run time in launcher.time_min={time_min} "
                f"({time_min * 60} s): SLURM may send the timeout signal up to {SIGNAL_EARLY_S} s earlier than "
                f"asked, so the job would be stopped as it starts. Raise time_min or lower signal_delay_s "
                f"below {time_min * 60 - SIGNAL_EARLY_S}")
        if mem_gb is not None and mem_gb <= 0:
            raise ValueError(f"launcher.mem_gb must be > 0 (or null for the cluster default), got {mem_gb}")
        self.partition, self.account, self.qos, self.constraint = partition, account, qos, constraint
        self.time_min, self.nodes, self.gpus_per_node = time_min, nodes, gpus_per_node
        self.cpus_per_task, self.mem_gb = cpus_per_task, mem_gb
        self.additional_sbatch = dict(additional_sbatch or {})
        self.setup = list(setup or [])
        self.signal_delay_s, self.max_requeues = signal_delay_s, max_requeues
        self.array_parallelism, self.dry_run = array_parallelism, dry_run

    def world_size(self, config: Mapping[str, Any]) -> int:
        """Training processes per job: one task per GPU on each node."""
        return self.nodes * max(1, self.gpus_per_node)

    def sbatch_parameters(self, job_name: str) -> dict[str, Any]:
        """The settings as submitit `SlurmExecutor` parameters (sbatch option names)."""
        extra: dict[str, Any] = {"requeue": True}  # requeueable even where the cluster default is not
        if self.mem_gb is not None:
            whole = self.mem_gb == int(self.mem_gb)
            extra["mem"] = f"{int(self.mem_gb)}G" if whole else f"{int(self.mem_gb * 1024)}M"
        params = {
            "job_name": job_name, "time": self.time_min, "nodes": self.nodes,
            "ntasks_per_node": max(1, self.gpus_per_node), "gpus_per_node": self.gpus_per_node or None,
            "cpus_per_task": self.cpus_per_task, "partition": self.partition, "account": self.account,
            "qos": self.qos, "constraint": self.constraint, "setup": self.setup or None,
            "signal_delay_s": self.signal_delay_s, "array_parallelism": self.array_parallelism,
            "additional_parameters": {**extra, **self.additional_sbatch},
        }
        return {k: v for k, v in params.items() if v is not None}

    def sbatch_script(self, folder: Path, job_name: str, array_size: int | None = None) -> str:
        """The batch script submitit writes for a job (or a job array) logging to `folder`."""
        command = f"{shlex.quote(sys.executable)} -u -m submitit.core._submit {shlex.quote(str(folder))}"
        return _make_sbatch_string(command=command, folder=folder, map_count=array_size,
                                   **self.sbatch_parameters(job_name))

    def launch(self, run_dir: Path) -> str | None:
        """Queue one job training `run_dir`; return its job id (None for a dry run)."""
        run_dir = Path(run_dir).resolve()
        name = job_name(run_dir)
        if self.dry_run:
            print(self.sbatch_script(run_dir / "slurm", name))
            print(f"rlx: dry run, nothing submitted; resolved config: {run_dir / 'config.yaml'}")
            return None
        folder = fresh_folder(run_dir / "slurm")
        job = self._executor(folder, name).submit(self._job(run_dir))
        record = write_job_record(run_dir, job)
        print(f"rlx: submitted SLURM job {job.job_id} for {run_dir}\n"
              f"rlx: follow it with:\n  squeue -j {job.job_id}\n  tail -f {record['stdout']}\n"
              f"  python -m rlx.status {run_dir}")
        return job.job_id

    def launch_array(self, run_dirs: Sequence[Path]) -> list[str]:
        """Queue one job array whose element i trains `run_dirs[i]`; return the element job ids."""
        run_dirs = [Path(d).resolve() for d in run_dirs]
        if not run_dirs:
            return []
        name, base = job_name(run_dirs[0]), array_folder(run_dirs)
        if self.dry_run:
            print(self.sbatch_script(base, name, array_size=len(run_dirs)))
            print("rlx: dry run, nothing submitted; resolved configs:\n"
                  + "\n".join(f"  {d / 'config.yaml'}" for d in run_dirs))
            return []
        executor = self._executor(fresh_folder(base), name)
        with executor.batch():
            jobs = [executor.submit(self._job(d)) for d in run_dirs]
        for run_dir, job in zip(run_dirs, jobs):
            write_job_record(run_dir, job)
        array_id = jobs[0].job_id.split("_")[0]
        print(f"rlx: submitted SLURM job array {array_id} ({len(jobs)} runs, at most "
              f"{self.array_parallelism} at once)\n"
              + "\n".join(f"  {job.job_id}  {d}" for job, d in zip(jobs, run_dirs))
              + f"\nrlx: follow it with:\n  squeue -j {array_id}\n  tail -f {jobs[0].paths.stdout}")
        return [job.job_id for job in jobs]

    def _job(self, run_dir: Path) -> TrainJob:
        return TrainJob(run_dir, max_requeues=self.max_requeues,
                        requeue_deadline_s=max(1, self.signal_delay_s - 15))

    def _executor(self, folder: Path, name: str):
        import submitit

        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=self.max_requeues)
        executor.update_parameters(**self.sbatch_parameters(name))
        return executor


class TrainJob:
    """What a SLURM job runs (pickled by submitit): train `run_dir`, stop cleanly when told to.

    The timeout/preemption signal (USR2) and SIGTERM only set a flag; training stops at the next
    iteration boundary after writing a checkpoint. After USR2 the job requeues itself (at most
    `max_requeues` times; if no iteration boundary comes within `requeue_deadline_s`, it requeues
    anyway and the next job resumes from the last complete checkpoint). After SIGTERM (scancel,
    `scontrol requeue`, preemption) it exits and leaves the decision to SLURM.
    """

    def __init__(self, run_dir: Path, max_requeues: int = 3, requeue_deadline_s: float = 75.0):
        self.run_dir = Path(run_dir)
        self.max_requeues = max_requeues
        self.requeue_deadline_s = requeue_deadline_s

    def __call__(self) -> dict[str, float]:
        from rlx.run_status import tracked

        with tracked(self.run_dir):  # status.json: running -> done | stopped (requeue) | failed
            return self._train()

    def _train(self) -> dict[str, float]:
        from rlx.train.recipe import run

        job_id, rank = os.environ.get("SLURM_JOB_ID", "?"), int(os.environ.get("SLURM_PROCID", 0))
        restarts = int(os.environ.get("SLURM_RESTART_COUNT", 0))
        requeue = Requeue(job_id, enabled=rank == 0 and restarts < self.max_requeues)
        stop = StopRequest(on_timeout=requeue, timeout_deadline_s=self.requeue_deadline_s)
        stop.install()
        print(f"rlx: SLURM job {job_id} (restart {restarts}) training {self.run_dir}", flush=True)
        if rank == 0 and restarts:
            record_resume(self.run_dir, read_config(self.run_dir), overrides=[], details={
                "reason": "slurm requeue", "slurm_restart_count": restarts,
                "from_step": last_step(self.run_dir)})
        metrics = run(self.run_dir, should_stop=stop.is_set)
        if stop.signal is None or self._finished():
            return metrics
        name = signal.Signals(stop.signal).name
        if stop.signal != TIMEOUT_SIGNAL:
            raise SystemExit(f"rlx: stopped by {name} after a checkpoint; SLURM decides what comes next")
        if rank == 0:
            if restarts >= self.max_requeues:
                raise RuntimeError(
                    f"rlx: {name} after {restarts} requeues (launcher.max_requeues={self.max_requeues}): "
                    f"not requeued; the checkpoint is saved, continue with "
                    f"`python launch.py resume={self.run_dir} launcher=slurm`")
            requeue()
        raise SystemExit(f"rlx: stopped by {name} after a checkpoint; requeued")  # no result file

    def _finished(self) -> bool:
        return last_step(self.run_dir) >= read_config(self.run_dir)["iterations"]


class Requeue:
    """`scontrol requeue` this job, once (only from rank 0); SLURM then SIGTERMs and restarts it."""

    def __init__(self, job_id: str, enabled: bool = True):
        self.job_id, self.enabled = job_id, enabled
        self.lock, self.done = threading.Lock(), False

    def __call__(self) -> None:
        with self.lock:
            if self.done or not self.enabled:
                return
            self.done = True
        subprocess.run(["scontrol", "requeue", self.job_id], check=True, timeout=60)
        print(f"rlx: requeued SLURM job {self.job_id}", flush=True)


class StopRequest:
    """A flag set by SLURM's signals; the training loop polls `is_set()` between iterations.

    On the timeout signal it also starts a timer: if training has not stopped `timeout_deadline_s`
    later (an iteration longer than the warning), `on_timeout` runs from the timer thread.
    """

    def __init__(self, on_timeout: Callable[[], None] | None = None, timeout_deadline_s: float = 75.0):
        self.signal: int | None = None
        self.on_timeout, self.timeout_deadline_s = on_timeout, timeout_deadline_s
        self.timer: threading.Timer | None = None

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (TIMEOUT_SIGNAL, signal.SIGTERM):
                signal.signal(sig, self._handle)

    def is_set(self) -> bool:
        if self.signal is not None and self.timer is not None:
            self.timer.cancel()  # called at an iteration boundary: the loop stops here
        return self.signal is not None

    def _handle(self, signum: int, frame: Any) -> None:
        os.write(2, f"rlx: caught {signal.Signals(signum).name}; stopping after this iteration\n".encode())
        if self.signal is not None:
            return
        self.signal = signum
        if signum == TIMEOUT_SIGNAL and self.on_timeout is not None:
            self.timer = threading.Timer(self.timeout_deadline_s, self.on_timeout)
            self.timer.daemon = True
            self.timer.start()


def last_step(run_dir: Path) -> int:
    """The iteration of the newest complete checkpoint (0: none)."""
    done = list_checkpoints(run_dir)
    return int(done[-1].name.split("_")[1]) if done else 0


def job_name(run_dir: Path) -> str:
    return f"rlx-{read_config(run_dir)['experiment_name']}"


def fresh_folder(base: Path) -> Path:
    """`base`, or `base/resubmit_<n>` when `base` already holds an earlier submission's files
    (job ids restart when a cluster's state is reset, so a reused folder could show stale results)."""
    if not base.exists() or not any(base.iterdir()):
        return base
    n = 1
    while (base / f"resubmit_{n}").exists():
        n += 1
    return base / f"resubmit_{n}"


def array_folder(run_dirs: Sequence[Path]) -> Path:
    """`<common parent of the run dirs>/slurm` (for a sweep: the sweep directory)."""
    common = Path(os.path.commonpath([str(d) for d in run_dirs]))
    return (common.parent if common in run_dirs else common) / "slurm"


def write_job_record(run_dir: Path, job: Any) -> dict[str, Any]:
    """`<run_dir>/slurm_job.json`: job id, submission time, log and submitit folder paths."""
    record = {
        "job_id": job.job_id,
        "submitted": _dt.datetime.now().isoformat(timespec="seconds"),
        "submitted_unix": time.time(),
        "folder": str(job.paths.folder),
        "stdout": str(job.paths.stdout),
        "stderr": str(job.paths.stderr),
    }
    (run_dir / JOB_FILE).write_text(json.dumps(record, indent=2))
    return record


def read_job_record(run_dir: Path) -> dict[str, Any] | None:
    """`<run_dir>/slurm_job.json`, or None when the run has none (or it cannot be read)."""
    try:
        return json.loads((Path(run_dir) / JOB_FILE).read_text())
    except (OSError, ValueError):
        return None
