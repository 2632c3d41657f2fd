"""Weights & Biases logging (offline by default; `wandb sync` uploads later).

W&B writes through a background service process (`wandb-core`). Under SLURM that process gets
the job's SIGTERM too (`scancel`, `scontrol requeue`, preemption send it to every process of the
step): it shuts down at once without writing what it still buffers, and the next W&B call raises
`ConnectionResetError`. Shielding it does not work: wandb starts it in its own session already,
and it subscribes to SIGTERM itself, so an ignored or blocked SIGTERM is re-enabled (checked with
wandb 0.31). So this logger never lets a W&B error reach the trainer: it starts a new service for
the same W&B run and logs again, from `metrics.jsonl`, every step that no W&B file of this run id
holds; when even that fails it stops logging to W&B for this process and the next resume fills
the gap the same way. Across all W&B files of the run id, each step of metrics.jsonl then appears
once (`history_steps` reads them back).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from rlx.logging.base import flatten, read_metrics

RUN_ID_FILE = "wandb_run_id.txt"
METRICS_FILE = "metrics.jsonl"


class WandbLogger:
    """One W&B run per rlx run directory; a resumed run continues the same W&B run.

    `run_dir`, `run_config` (resolved, nested) and `tags` (from the chosen config groups) are given
    by the trainer; the rest are config keys. The run id is stored in `<run_dir>/wandb_run_id.txt`.
    The W&B run is opened as a resume only when an earlier W&B file of this id exists in the run
    directory. At the start, steps of `<run_dir>/metrics.jsonl` (already cut back to the checkpoint
    being resumed) that no earlier W&B file holds are logged first, e.g. those a killed service
    lost.
    """

    def __init__(
        self,
        run_dir: Path,
        run_config: Mapping[str, Any],
        tags: Sequence[str],
        *,
        mode: Literal["offline", "online", "disabled"] = "offline",
        project: str = "rlx",
        entity: str | None = None,
        group: str | None = None,
        job_type: str = "train",
        tags_extra: Sequence[str] = (),
    ):
        import wandb

        self.run_dir = Path(run_dir)
        self.run_id = run_id_for(self.run_dir)
        os.environ.setdefault("WANDB_SILENT", "true")
        self.init_args = dict(
            project=project, entity=entity, group=group, job_type=job_type,
            tags=sorted({*tags, *tags_extra})[:64], config=flatten(run_config),
            dir=str(self.run_dir), mode=mode, id=self.run_id,
            name=f"{self.run_dir.parent.name}/{self.run_dir.name}",
            settings=wandb.Settings(console="off", x_disable_stats=True),
        )
        self.last_step: int | None = None
        self.run: Any = None
        self._durable: dict[Path, set[int]] = {}  # finished or dead W&B files -> their steps
        self._open(before=None)

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        row = dict(metrics)
        if self.run is not None:
            try:
                self.run.log(row, step=step)
            except Exception as err:  # noqa: BLE001 -- a logger never stops training
                if self._restart(err, before=step):
                    self._try(lambda: self.run.log(row, step=step), "log")
        self.last_step = step if self.last_step is None else max(self.last_step, step)

    def finish(self) -> None:
        """Finish the W&B run (this writes its file); on failure restart once and finish again."""
        if self.run is None:
            return
        try:
            self.run.finish()
        except Exception as err:  # noqa: BLE001
            upto = None if self.last_step is None else self.last_step + 1
            if self._restart(err, before=upto):
                self._try(self.run.finish, "finish")
        self.run = None

    def _open(self, before: int | None) -> None:
        """Start a W&B run for this id, then log the steps of metrics.jsonl (those below
        `before`, if given) that no earlier W&B file of this id holds."""
        import wandb

        earlier = wandb_files(self.run_dir, self.run_id)
        wait_for_a_new_second(earlier, self.run_id)
        self.run = wandb.init(**self.init_args, resume="allow" if earlier else None)
        rows = [row for row in metrics_rows(self.run_dir / METRICS_FILE)
                if before is None or row["step"] < before]
        live = {p.resolve() for p in Path(self.run.dir).parent.glob("run-*.wandb")}
        held = set().union(*(self._steps(p) for p in earlier if rows and p.resolve() not in live))
        missing = [row for row in rows if row["step"] not in held]
        for row in missing:
            step = row.pop("step")
            self.run.log({k: float("nan") if v is None else v for k, v in row.items()}, step=step)
        if missing and earlier:
            print(f"rlx: W&B: logged again {len(missing)} step(s) from metrics.jsonl that no W&B "
                  f"file of run {self.run_id} held", file=sys.stderr, flush=True)

    def _steps(self, path: Path) -> set[int]:
        if path not in self._durable:
            self._durable[path] = set(history_steps(path))
        return self._durable[path]

    def _restart(self, err: Exception, before: int | None) -> bool:
        print(f"rlx: W&B failed ({type(err).__name__}: {err}); restarting its service for run "
              f"{self.run_id} and logging again the steps it lost (metrics.jsonl has them all)",
              file=sys.stderr, flush=True)
        drop_service()
        try:
            self._open(before=before)
            return True
        except Exception as again:  # noqa: BLE001
            print(f"rlx: W&B could not restart ({type(again).__name__}: {again}); W&B logging is off "
                  "for the rest of this process; metrics.jsonl keeps every step and the next resume "
                  "logs the missing ones to W&B", file=sys.stderr, flush=True)
            self.run = None
            return False

    def _try(self, call, what: str) -> None:
        try:
            call()
        except Exception as err:  # noqa: BLE001
            print(f"rlx: W&B {what} failed again after a restart ({type(err).__name__}: {err}); W&B "
                  "logging is off for the rest of this process", file=sys.stderr, flush=True)
            self.run = None


def drop_service() -> None:
    """Forget W&B's connection to a dead service, so that the next `wandb.init` starts a new one:
    tear the library down (its teardown message cannot reach the dead service and raises; the
    connection's exit hook and the service address in the environment are cleared before that),
    and wait briefly for the old process to end so that its file is complete."""
    import wandb
    from wandb.sdk import wandb_setup

    setup = wandb_setup._singleton
    connection = getattr(setup, "_connection", None)
    proc = getattr(getattr(connection, "_proc", None), "_process", None)
    try:
        wandb.teardown()
    except Exception:  # noqa: BLE001 -- expected: the service is gone
        pass
    os.environ.pop("WANDB_SERVICE", None)
    if proc is not None:
        try:
            proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, OSError):
            pass


def wait_for_a_new_second(files: Sequence[Path], run_id: str) -> None:
    """W&B names a run's directory `<mode>-<start time in whole seconds>-<id>`: wait until no
    earlier directory of this id carries the current second, so that a new start of the run never
    shares (and overwrites) an earlier one's directory."""
    stamps = {f.parent.name[: -len(run_id) - 1].rsplit("-", 1)[-1] for f in files}
    while time.strftime("%Y%m%d_%H%M%S") in stamps:
        time.sleep(1.0 - time.time() % 1.0 + 0.01)


def wandb_files(run_dir: Path, run_id: str) -> list[Path]:
    """The W&B transaction logs of run `run_id` under `<run_dir>/wandb`, oldest first (offline
    runs are `offline-run-<time>-<id>/run-<id>.wandb`, online ones `run-<time>-<id>/...`)."""
    return sorted(Path(run_dir).glob(f"wandb/*run-*-{run_id}/run-{run_id}.wandb"),
                  key=lambda p: p.parent.name.split("run-", 1)[1])


def history_steps(wandb_file: Path) -> list[int]:
    """The history steps stored in one `.wandb` file, read back by W&B's own reader (`wandb leet
    inspect --json`, here called on the wandb-core program it runs)."""
    from wandb.util import get_core_path

    out = subprocess.run(
        [get_core_path(), "leet", "inspect", "--no-observability", "--json",
         "--run-file", str(wandb_file), str(Path(wandb_file).parent.parent)],
        capture_output=True, text=True, timeout=120)
    if out.returncode:  # unreadable: its steps are logged again rather than risked lost
        print(f"rlx: W&B: could not read {wandb_file} back ({out.stderr.strip()[-200:]})",
              file=sys.stderr, flush=True)
    records = []
    for line in filter(str.strip, out.stdout.splitlines()):
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return [record_step(r) for r in records if r.get("type") == "history"]


def record_step(record: Mapping[str, Any]) -> int:
    history = record["history"]
    return int(history.get("step", {}).get("num", history.get("item", {}).get("_step", 0)))


def metrics_rows(path: Path) -> Iterable[dict[str, Any]]:
    return read_metrics(path) if Path(path).exists() else []


def run_id_for(run_dir: Path) -> str:
    """The run directory's W&B run id: the stored one, or a new one, stored now (a resumed run,
    and a sweep point whose id was fixed when the sweep was made, keep theirs)."""
    id_file = Path(run_dir) / RUN_ID_FILE
    if id_file.exists():
        return id_file.read_text().strip()
    run_id = uuid.uuid4().hex[:12]
    id_file.write_text(run_id)
    return run_id
