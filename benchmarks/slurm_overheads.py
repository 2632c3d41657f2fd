#!/usr/bin/env python
"""SLURM launch figures on a running cluster (e.g. `bash scripts/slurm/start.sh`):

1. submission latency: `launch.py ... launcher=slurm` start -> job submitted -> RUNNING -> first
   job log line, and when launch.py itself returns;
2. a 3-point sweep as one job array: `python -m rlx.sweep` start -> every point done;
3. checkpoint + requeue + resume overhead: timeout signal (USR2) at iteration 3 -> the resumed
   job's first new iteration, minus one normal iteration.

    .venv/bin/python benchmarks/slurm_overheads.py [--reps 3]
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rlx.logging.base import read_metrics  # noqa: E402

TINY = ["model=tiny", "logger=none", "trainer.tasks_per_iter=2", "rollout.max_new_tokens=24", "trainer.eval_tasks=2"]
JOB = ["launcher=slurm", "launcher.gpus_per_node=0", "launcher.cpus_per_task=1", "launcher.time_min=5"]


def squeue_state(job: str) -> str:
    return subprocess.run(["squeue", "-h", "--states=all", "-j", job, "-o", "%T"],
                          capture_output=True, text=True).stdout.strip()


def wait_text(paths: list[Path], patterns: dict[str, str], last: str, timeout_s: float = 180) -> dict[str, float]:
    """time.time() at which each regex first appeared in the files, until `last` has."""
    seen, deadline = {}, time.time() + timeout_s
    while time.time() < deadline:
        text = "".join(p.read_text(errors="replace") for p in paths if p.exists())
        for name, pattern in patterns.items():
            if name not in seen and re.search(pattern, text):
                seen[name] = time.time()
        if last in seen:
            return seen
        time.sleep(0.02)
    raise TimeoutError(f"saw only {sorted(seen)} in {paths}")


def wait_file(work: Path, pattern: str, timeout_s: float = 120) -> Path:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        found = list(work.glob(pattern))
        if found:
            time.sleep(0.02)
            return found[0]
        time.sleep(0.01)
    raise TimeoutError(pattern)


def submission(work: Path) -> dict[str, float]:
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), *TINY, *JOB, "iterations=2"],
                            cwd=work, stdout=subprocess.DEVNULL)
    record = json.loads(wait_file(work, "runs/**/slurm_job.json").read_text())
    job, submitted = record["job_id"], record["submitted_unix"]
    while squeue_state(job) in ("PENDING", "CONFIGURING", ""):
        time.sleep(0.02)
    running = time.time()
    proc.wait()
    returned = time.time()
    logs = [Path(record["stdout"]), Path(record["stderr"])]
    done = wait_text(logs, {"done": r"rlx: done"}, "done")["done"]
    first = re.search(r"submitit INFO \((.*?)\)", "".join(p.read_text() for p in logs)).group(1)
    first_line = datetime.datetime.strptime(first, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return {"start->submitted": submitted - t0, "launch.py returned": returned - t0,
            "submitted->RUNNING": running - submitted, "submitted->first log line": first_line - submitted,
            "submitted->run done": done - submitted}


def sweep(work: Path) -> float:
    spec = work / "s.yaml"
    spec.write_text(f"name: bench3\noverrides: [{', '.join([*TINY, *JOB, 'iterations=2'])}]\n"
                    "grid:\n  seed: [0, 1, 2]\narray_parallelism: 2\n")
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "rlx.sweep", str(spec)], cwd=work, check=True,
                   stdout=subprocess.DEVNULL)
    (sweep_dir,) = (work / "runs" / "sweeps" / "bench3").glob("*")
    while subprocess.run([sys.executable, "-m", "rlx.status", str(sweep_dir)], cwd=work,
                         capture_output=True, text=True).stdout.splitlines()[0].find("3 done") < 0:
        time.sleep(0.5)
    return time.time() - t0


def requeue_overhead(work: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, str(ROOT / "launch.py"), *TINY, *JOB, "iterations=8"],
                         cwd=work, capture_output=True, text=True, check=True).stdout
    job = re.search(r"submitted SLURM job (\d+)", out).group(1)
    run_dir = next(work.glob("runs/**/slurm_job.json")).parent
    log = Path(json.loads((run_dir / "slurm_job.json").read_text())["stdout"])
    wait_text([log], {"i3": r"iter 3/8"}, "i3")
    t_sig = time.time()
    subprocess.run(["scancel", "--signal=USR2", job], check=True)
    seen = wait_text([log], {"stop": r"checkpoint saved at iteration", "restart": r"\(restart 1\)",
                             "resumed": r"resumed from checkpoint at iteration"}, "resumed")
    k = int(re.search(r"resumed from checkpoint at iteration (\d+)", log.read_text()).group(1))
    seen.update(wait_text([log], {"next": rf"resumed from checkpoint at iteration {k}[\s\S]*iter {k + 1}/8"}, "next"))
    while squeue_state(job) not in ("COMPLETED", "FAILED"):
        time.sleep(0.2)
    steps = [r["step"] for r in read_metrics(run_dir / "metrics.jsonl")]
    assert steps == list(range(1, 9)), f"iterations lost or repeated: {steps}"
    iteration = statistics.median(r["perf/time/iteration"] for r in read_metrics(run_dir / "metrics.jsonl")[1:])
    return {"signal->checkpoint+stop": seen["stop"] - t_sig, "signal->job restarted": seen["restart"] - t_sig,
            "signal->resumed": seen["resumed"] - t_sig, "signal->first new iteration": seen["next"] - t_sig,
            "normal iteration": iteration, "overhead": seen["next"] - t_sig - iteration}


def show(title: str, rows: list[dict[str, float]]) -> None:
    print(f"== {title}")
    for key in rows[0]:
        values = [r[key] for r in rows]
        print(f"  {key:<28} median {statistics.median(values):6.2f} s   ({', '.join(f'{v:.2f}' for v in values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        dirs = lambda name: [(base / f"{name}{i}").resolve() for i in range(args.reps)]  # noqa: E731
        for d in dirs("lat") + dirs("sw") + dirs("rq"):
            d.mkdir()
        show("submission", [submission(d) for d in dirs("lat")])
        show("3-point sweep as one array (2 at a time), start -> all done",
             [{"wall": sweep(d)} for d in dirs("sw")])
        show("checkpoint + requeue + resume (USR2 at iteration 3)", [requeue_overhead(d) for d in dirs("rq")])


if __name__ == "__main__":
    main()
