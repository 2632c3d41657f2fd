"""Run directories and their manifest: everything needed to know, and redo, what ran.

Layout: `<runs_root>/<experiment_name>/<timestamp>[/<job>]` holding
  config.yaml      the resolved config (the run is rebuilt from this file alone)
  manifest.json    overrides, config-group choices, git SHA, seeds, host, device, versions
  git.diff         uncommitted changes at launch time (when the tree was dirty)
  metrics.jsonl    one JSON object per logged step
  checkpoints/     step_<n>/ (see rlx.train.checkpoint)
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

CONFIG_FILE = "config.yaml"
MANIFEST_FILE = "manifest.json"
TRACKED_PACKAGES = (
    "rlx", "torch", "transformers", "accelerate", "peft", "hydra-core", "omegaconf", "wandb",
    "datasets", "submitit", "math-verify", "reasoning-gym", "tokenizers",
)


def new_run_dir(runs_root: str | Path, experiment_name: str, job: str | None = None) -> Path:
    """Create and return a fresh `runs_root/experiment_name/<timestamp>[/job]`."""
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    base = Path(runs_root) / experiment_name
    for attempt in range(1000):
        name = stamp if attempt == 0 else f"{stamp}_{attempt}"
        path = base / name / job if job else base / name
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path.resolve()
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a run directory under {base}")


def latest_run_dir(runs_root: str | Path, experiment_name: str) -> Path | None:
    """The newest run directory of an experiment that holds a checkpoint, or None."""
    base = Path(runs_root) / experiment_name
    candidates = [p.parents[2] for p in base.glob("**/checkpoints/step_*/state.pt")]
    return max(candidates, key=lambda p: p.stat().st_mtime).resolve() if candidates else None


def git_state(repo: Path) -> dict[str, Any]:
    """SHA, dirty flag and diff of the code checkout at `repo` (empty when not a git checkout)."""
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=20, check=True
        ).stdout

    try:
        sha = git("rev-parse", "HEAD").strip()
        diff = git("diff", "HEAD")
        untracked = git("ls-files", "--others", "--exclude-standard").split()
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None, "diff": ""}
    return {"sha": sha, "dirty": bool(diff or untracked), "diff": diff, "untracked": untracked}


def package_versions(names: Sequence[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_info() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"cuda_available": torch.cuda.is_available(), "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    return info


def write_run_files(
    run_dir: Path,
    config: Mapping[str, Any],
    *,
    overrides: Sequence[str],
    choices: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write config.yaml, manifest.json and git.diff into `run_dir`; return the manifest."""
    code_root = Path(__file__).resolve().parents[1]
    git = git_state(code_root)
    manifest = {
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "command": [sys.executable, *sys.argv],
        "cwd": os.getcwd(),
        "overrides": list(overrides),
        "choices": {k: v for k, v in choices.items() if not str(k).startswith("hydra")},
        "seed": config.get("seed"),
        "git": {k: v for k, v in git.items() if k != "diff"},
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "device": device_info(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        **(extra or {}),
    }
    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(dict(config), sort_keys=False))
    (run_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    if git.get("diff"):
        (run_dir / "git.diff").write_text(git["diff"])
    return manifest


def record_resume(run_dir: Path, config: Mapping[str, Any], *, overrides: Sequence[str],
                  details: Mapping[str, Any] | None = None) -> None:
    """Update config.yaml for a resumed run (e.g. more iterations) and log the resume in the manifest
    (`details`, e.g. why and from which step, are added to its entry)."""
    manifest = read_manifest(run_dir)
    manifest.setdefault("resumes", []).append({
        "at": _dt.datetime.now().isoformat(timespec="seconds"),
        "overrides": list(overrides),
        "git_sha": git_state(Path(__file__).resolve().parents[1]).get("sha"),
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        **(details or {}),
    })
    (run_dir / CONFIG_FILE).write_text(yaml.safe_dump(dict(config), sort_keys=False))
    (run_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))


def read_config(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {run_dir} an rlx run directory?")
    return yaml.safe_load(path.read_text())


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST_FILE
    return json.loads(path.read_text()) if path.exists() else {}
