"""How many CPUs this job may use: the limit `EnvPool` checks before it starts workers.

A job can be limited in several places at once; the smallest limit wins:
- the CPU affinity mask (`taskset`, SLURM's task/affinity and cgroup plugins, docker `--cpuset-cpus`),
- a cgroup CPU quota (docker `--cpus`, Kubernetes limits): cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`,
- `SLURM_CPUS_PER_TASK` inside a SLURM job,
- the machine's CPU count.
A fractional quota is rounded down (1.5 CPUs -> 1), but never below 1.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def cpu_limits(
    cgroup_root: str | os.PathLike = "/sys/fs/cgroup",
    proc_self_cgroup: str | os.PathLike = "/proc/self/cgroup",
    environ: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Each CPU limit found for this process, by source name, e.g.
    `{"os.cpu_count": 64, "sched_getaffinity": 8, "cgroup cpu.max": 4, "SLURM_CPUS_PER_TASK": 4}`."""
    environ = os.environ if environ is None else environ
    limits = {"os.cpu_count": os.cpu_count() or 1}
    if hasattr(os, "sched_getaffinity"):
        limits["sched_getaffinity"] = len(os.sched_getaffinity(0))
    quota = _cgroup_quota(Path(cgroup_root), Path(proc_self_cgroup))
    if quota is not None:
        limits[quota[0]] = quota[1]
    slurm = environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.strip().isdigit() and int(slurm) > 0:
        limits["SLURM_CPUS_PER_TASK"] = int(slurm)
    return limits


def available_cpus(**kwargs) -> int:
    """The number of CPUs this job may use: the smallest of `cpu_limits(**kwargs)`."""
    return min(cpu_limits(**kwargs).values())


def describe_cpu_limits(limits: Mapping[str, int]) -> str:
    """'sched_getaffinity: 2, os.cpu_count: 2' (for error messages)."""
    return ", ".join(f"{name}: {n}" for name, n in sorted(limits.items(), key=lambda kv: kv[1]))


def _cgroup_quota(root: Path, proc_self_cgroup: Path) -> tuple[str, int] | None:
    """(source, CPUs) from the cgroup CPU quota of this process, or None when unlimited/unknown.

    cgroup v2: `cpu.max` ("<quota> <period>" or "max <period>") of our group and every parent
    (the tightest one applies); cgroup v1: `cpu.cfs_quota_us` (-1 = unlimited) / `cpu.cfs_period_us`.
    """
    found: list[tuple[int, str]] = []
    for rel in _cgroup_paths(proc_self_cgroup):
        group = root / rel
        for level in [group, *group.parents]:
            if not level.is_relative_to(root):
                break
            cpus = _parse_cpu_max(level / "cpu.max")
            if cpus is not None:
                found.append((cpus, "cgroup cpu.max"))
        for base in (root / "cpu" / rel, root / "cpu,cpuacct" / rel, root / "cpu", root / "cpu,cpuacct"):
            cpus = _parse_cfs(base / "cpu.cfs_quota_us", base / "cpu.cfs_period_us")
            if cpus is not None:
                found.append((cpus, "cgroup cpu.cfs_quota_us"))
    if not found:
        return None
    cpus, source = min(found)
    return source, cpus


def _cgroup_paths(proc_self_cgroup: Path) -> list[str]:
    """The cgroup paths (relative, no leading '/') listed for this process; [""] when unknown."""
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        return [""]
    paths = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and (parts[1] == "" or "cpu" in parts[1].split(",")):
            paths.append(parts[2].lstrip("/"))
    return paths or [""]


def _parse_cpu_max(path: Path) -> int | None:
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max" or int(period) <= 0:
        return None
    return max(1, int(quota) // int(period))


def _parse_cfs(quota_path: Path, period_path: Path) -> int | None:
    try:
        quota, period = int(quota_path.read_text()), int(period_path.read_text())
    except (OSError, ValueError):
        return None
    if quota <= 0 or period <= 0:
        return None
    return max(1, quota // period)
