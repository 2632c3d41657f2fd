"""`python -m rlx.status SWEEP_OR_RUN_DIR ...`: the state of each point of a sweep (or of runs).

States: queued, requeued, running, done, cancelled, failed. A run's own `status.json` is trusted
first (done, or failed with the traceback's last lines); SLURM's accounting (`sacct`, else `squeue`)
covers what the run could not say itself: still pending, queued again after it ran (requeued:
`scontrol requeue`, a preemption, the job's own requeue at its time limit), stopped from outside
(cancelled: `scancel`, a preemption that cancels), or killed (timeout, out of memory, node failure),
in which case the last lines of the job's log are shown. Exit code 1 when any point failed.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rlx.launchers.slurm import read_job_record
from rlx.run_dir import CONFIG_FILE, read_config, read_manifest
from rlx.run_status import read_status
from rlx.sweep.registry import REGISTRY_FILE, PointRecord, load_registry

SLURM_FAILED = ("FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE")
SLURM_CANCELLED = ("CANCELLED", "PREEMPTED")  # stopped from outside (the run checkpoints on SIGTERM)
SLURM_REQUEUED = ("REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED")
SLURM_QUEUED = ("PENDING", "RESIZING", "SUSPENDED")
STATES = ("queued", "requeued", "running", "done", "cancelled", "failed")
TAIL_LINES = 8


@dataclass
class PointState:
    state: str  # one of STATES
    detail: str = ""
    step: int = 0
    iterations: int | None = None
    error_tail: list[str] = field(default_factory=list)


def point_state(run_dir: Path, job_id: str | None, slurm: Mapping[str, str]) -> PointState:
    """Combine the run's own status file, its metrics and SLURM's view of its job."""
    status = read_status(run_dir) or {}
    progress = dict(step=last_step(run_dir), iterations=planned_iterations(run_dir))
    own, queue = status.get("state"), slurm.get(job_id or "", "")
    queue = queue.split()[0] if queue else ""
    if own == "done":
        return PointState("done", **progress)
    if queue in SLURM_REQUEUED or (queue in SLURM_QUEUED and own is not None):  # it ran before
        return PointState("requeued", f"SLURM {queue.lower()}", **progress)
    if own in ("failed", "interrupted"):
        return PointState("failed", first_line(status.get("error", own)), error_tail=status.get("error_tail", []),
                          **progress)
    if queue in SLURM_CANCELLED:
        return PointState("cancelled", f"SLURM job {job_id} {queue}", **progress)
    if own == "stopped" and not queue:
        return PointState("queued" if job_id else "failed", first_line(status.get("reason", "")), **progress)
    if queue in SLURM_FAILED:
        return PointState("failed", f"SLURM job {job_id} {queue}", error_tail=log_tail(run_dir), **progress)
    if queue in SLURM_QUEUED:
        return PointState("queued", f"SLURM {queue.lower()}", **progress)
    if own == "running":
        if not job_id and status.get("host") == socket.gethostname() and not pid_alive(status.get("pid")):
            return PointState("failed", f"process {status.get('pid')} ended without a final status "
                              "(killed?)", error_tail=log_tail(run_dir), **progress)
        return PointState("running", **progress)
    if queue == "RUNNING":
        return PointState("running", "starting", **progress)
    if queue == "COMPLETED":  # the job ended but the run never said it finished
        return PointState("failed", "job completed without a final run status", error_tail=log_tail(run_dir), **progress)
    return PointState("queued", **progress)


def first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def last_step(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return 0
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return int(re.search(r'"step": (\d+)', lines[-1]).group(1)) if lines else 0


def planned_iterations(run_dir: Path) -> int | None:
    try:
        return int(read_config(run_dir)["iterations"])
    except (OSError, KeyError, TypeError, ValueError):
        return None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def log_tail(run_dir: Path, lines: int = TAIL_LINES) -> list[str]:
    """The last lines of the newest log the run has: SLURM's job logs or the local train.log."""
    job = read_job_record(run_dir) or {}
    named = [Path(job[k]) for k in ("stderr", "stdout") if job.get(k)]
    logs = [p for p in [*named, *run_dir.glob("slurm/**/*.err"), *run_dir.glob("slurm/**/*.out"),
                        run_dir / "train.log"] if p.is_file() and p.stat().st_size]
    if not logs:
        return []
    newest = max(logs, key=lambda p: p.stat().st_mtime)
    return newest.read_text(errors="replace").rstrip().splitlines()[-lines:]


def slurm_states(job_ids: Iterable[str]) -> dict[str, str]:
    """job id -> SLURM state, from sacct (array elements included), else squeue; {} without SLURM."""
    ids = sorted({j for j in job_ids if j})
    if not ids:
        return {}
    states: dict[str, str] = {}
    for cmd in (["sacct", "-n", "-P", "-X", "--format=JobID,State", "-j", ",".join(ids)],
                ["squeue", "-h", "-r", "-o", "%i|%T", "-j", ",".join(sorted({j.split('_')[0] for j in ids}))]):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():
            job, _, state = line.partition("|")
            for jid in expand_array_id(job.strip()):
                states.setdefault(jid, state.strip())
    return states


def expand_array_id(job: str) -> list[str]:
    """'12_[0-2,5%2]' -> ['12_0', '12_1', '12_2', '12_5']; other ids unchanged."""
    m = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job)
    if not m:
        return [job]
    out = []
    for part in m.group(2).split("%")[0].split(","):
        lo, _, hi = part.partition("-")
        out += [f"{m.group(1)}_{i}" for i in range(int(lo), int(hi or lo) + 1)]
    return out


def records_for(path: Path) -> tuple[str, list[PointRecord]]:
    """A sweep dir's registry records, or a single run dir as a one-point list."""
    if (path / REGISTRY_FILE).exists():
        registry = load_registry(path)
        return registry.name, registry.points
    if (path / CONFIG_FILE).exists():
        job = slurm_job_id(path)
        return path.name, [PointRecord(point=0, overrides=[], run_dir=str(path), job_id=job)]
    points = multirun_points(path)
    if points:
        return f"{path.parent.name}/{path.name} (multirun)", points
    raise FileNotFoundError(f"{path} is neither a sweep directory ({REGISTRY_FILE}), a run directory "
                            f"({CONFIG_FILE}) nor the parent of a Hydra multirun (<job number>/{CONFIG_FILE})")


def multirun_points(path: Path) -> list[PointRecord]:
    """The points of a Hydra multirun (`launch.py -m ...`): its run directories are
    `<path>/<job number>/`, each with its config and manifest (the overrides)."""
    if not path.is_dir():
        return []
    jobs = sorted((int(d.name), d) for d in path.iterdir()
                  if d.name.isdigit() and (d / CONFIG_FILE).is_file())
    return [PointRecord(point=num, overrides=list(read_manifest(d).get("overrides") or []),
                        run_dir=str(d), job_id=slurm_job_id(d)) for num, d in jobs]


def slurm_job_id(run_dir: Path) -> str | None:
    return str((read_job_record(run_dir) or {}).get("job_id") or "") or None


def varying(records: Sequence[PointRecord]) -> list[str]:
    """Each point's overrides minus those every point shares."""
    common = set.intersection(*(set(r.overrides) for r in records)) if records else set()
    return [" ".join(o for o in r.overrides if o not in common) or "(base)" for r in records]


def report(path: Path) -> tuple[str, int]:
    """The status table of one sweep or run directory, and its number of failed points."""
    name, records = records_for(path)
    slurm = slurm_states(r.job_id for r in records if r.job_id)
    states = [point_state(Path(r.run_dir), r.job_id, slurm) for r in records]
    counts = {s: sum(p.state == s for p in states) for s in STATES}
    lines = [f"{name}  ({path})  " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)]
    for record, label, st in zip(records, varying(records), states):
        progress = f"{st.step}/{st.iterations if st.iterations is not None else '?'}"
        job = record.job_id or "-"
        lines.append(f"  {record.point:03d}  {st.state:<8} it {progress:<8} job {job:<10} {label}"
                     + (f"  [{st.detail}]" if st.detail else ""))
    for record, st in zip(records, states):
        if st.state == "failed" and st.error_tail:
            lines.append(f"  --- point {record.point:03d} failed ({record.run_dir}):")
            lines += [f"      {line}" for line in st.error_tail]
    return "\n".join(lines), counts["failed"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlx.status", description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep directories or run directories")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.dirs:
        try:
            text, n = report(path.resolve())
        except FileNotFoundError as err:
            print(f"rlx: {err}", file=sys.stderr)
            return 2
        print(text)
        failed += n
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
