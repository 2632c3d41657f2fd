"""rlx.status: the state of each point from the run's own status file and SLURM's accounting."""

import json
import os
import socket
from pathlib import Path

import pytest
import yaml

from rlx.run_status import read_status, tracked
from rlx.status import expand_array_id, point_state, report
from rlx.sweep.registry import PointRecord, Registry


def run_dir(tmp_path: Path, name: str, steps: int = 0, iterations: int = 4) -> Path:
    path = tmp_path / name
    path.mkdir()
    (path / "config.yaml").write_text(yaml.safe_dump({"iterations": iterations}))
    (path / "metrics.jsonl").write_text("".join(json.dumps({"step": s + 1, "x": 1}) + "\n" for s in range(steps)))
    return path


def status(path: Path, **body) -> None:
    (path / "status.json").write_text(json.dumps(body))


def test_tracked_writes_running_then_done_or_failed(tmp_path):
    with tracked(tmp_path):
        assert read_status(tmp_path)["state"] == "running"
    assert read_status(tmp_path)["state"] == "done"
    with pytest.raises(ValueError):
        with tracked(tmp_path):
            raise ValueError("bad batch")
    failed = read_status(tmp_path)
    assert failed["state"] == "failed" and failed["error"] == "ValueError: bad batch"
    assert failed["error_tail"][-1] == "ValueError: bad batch"


def test_only_rank_zero_writes_status(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    with tracked(tmp_path):
        pass
    assert read_status(tmp_path) is None


def test_states_from_own_status_and_slurm(tmp_path):
    done = run_dir(tmp_path, "done", steps=4)
    status(done, state="done")
    assert point_state(done, "7_0", {"7_0": "FAILED"}).state == "done"  # the run's word wins

    crashed = run_dir(tmp_path, "crashed", steps=1)
    status(crashed, state="failed", error="RuntimeError: boom\nmore", error_tail=["a", "RuntimeError: boom"])
    st = point_state(crashed, None, {})
    assert (st.state, st.detail, st.step, st.iterations) == ("failed", "RuntimeError: boom", 1, 4)

    killed = run_dir(tmp_path, "killed", steps=2)
    status(killed, state="running", host="node9")
    (killed / "slurm").mkdir()
    (killed / "slurm" / "7_2_0_log.err").write_text("step\nslurmstepd: error: *** JOB 7 CANCELLED DUE TO TIME LIMIT ***\n")
    st = point_state(killed, "7_2", {"7_2": "TIMEOUT"})
    assert st.state == "failed" and st.detail == "SLURM job 7_2 TIMEOUT" and "TIME LIMIT" in st.error_tail[-1]

    requeued = run_dir(tmp_path, "requeued", steps=2)
    status(requeued, state="running", host="node9")
    assert point_state(requeued, "8", {"8": "REQUEUED"}).state == "requeued"
    assert point_state(requeued, "8", {"8": "RUNNING"}).state == "running"

    pending = run_dir(tmp_path, "pending")
    assert point_state(pending, "9_1", {"9_1": "PENDING"}).state == "queued"
    assert point_state(pending, "9_1", {"9_1": "CANCELLED by 0"}).state == "cancelled"
    assert point_state(pending, None, {}).state == "queued"


def test_stopped_by_slurm_is_requeued_or_cancelled_not_failed(tmp_path):
    """A run that checkpointed and stopped on SIGTERM (status.json `stopped`): SLURM's word says
    whether it comes back (requeued, also while pending again) or not (cancelled, preempted)."""
    stopped = run_dir(tmp_path, "stopped", steps=3, iterations=6)
    status(stopped, state="stopped", reason="rlx: stopped by SIGTERM after a checkpoint")
    for queue, state in [("REQUEUED", "requeued"), ("PENDING", "requeued"), ("REQUEUE_HOLD", "requeued"),
                         ("CANCELLED by 0", "cancelled"), ("PREEMPTED", "cancelled"),
                         ("RUNNING", "running"), ("TIMEOUT", "failed")]:
        st = point_state(stopped, "5", {"5": queue})
        assert (st.state, st.step, st.iterations) == (state, 3, 6), queue
    assert point_state(stopped, "5", {"5": "CANCELLED by 0"}).detail == "SLURM job 5 CANCELLED"
    killed = run_dir(tmp_path, "killed", steps=1)  # SIGKILLed before it could write its status
    status(killed, state="running", host="node9")
    assert point_state(killed, "6", {"6": "CANCELLED by 0"}).state == "cancelled"
    assert point_state(killed, "6", {"6": "PENDING"}).state == "requeued"


def test_a_local_run_whose_process_vanished_is_failed(tmp_path):
    gone = run_dir(tmp_path, "gone", steps=1)
    (gone / "train.log").write_text("iter 1/4\nKilled\n")
    status(gone, state="running", host=socket.gethostname(), pid=2**22 + 12345)
    st = point_state(gone, None, {})
    assert st.state == "failed" and "ended without a final status" in st.detail and st.error_tail[-1] == "Killed"
    status(gone, state="running", host=socket.gethostname(), pid=os.getpid())
    assert point_state(gone, None, {}).state == "running"


def test_expand_array_id():
    assert expand_array_id("12_[0-2,5%2]") == ["12_0", "12_1", "12_2", "12_5"]
    assert expand_array_id("12_3") == ["12_3"] and expand_array_id("44") == ["44"]


def test_report_table_and_failure_count(tmp_path):
    a, b = run_dir(tmp_path, "000", steps=4), run_dir(tmp_path, "001", steps=1)
    status(a, state="done")
    status(b, state="failed", error="ValueError: x", error_tail=["Traceback", "ValueError: x"])
    Registry(name="s", sweep_dir=str(tmp_path), launcher="LocalLauncher", created="now", points=[
        PointRecord(0, ["env=x", "seed=0"], str(a)), PointRecord(1, ["env=x", "seed=1"], str(b)),
    ]).save()
    text, failed = report(tmp_path)
    lines = text.splitlines()
    assert failed == 1 and "1 done, 1 failed" in lines[0]
    assert lines[1].split() == ["000", "done", "it", "4/4", "job", "-", "seed=0"]
    assert lines[2].split()[:7] == ["001", "failed", "it", "1/4", "job", "-", "seed=1"]
    assert lines[-1].strip() == "ValueError: x"


def test_a_hydra_multirun_parent_is_listed_like_a_sweep(tmp_path):
    parent = tmp_path / "2026-01-01_00-00-00"  # launch.py -m: <parent>/<job number>/
    parent.mkdir()
    points = [run_dir(parent, name, steps=steps) for name, steps in (("0", 4), ("1", 2), ("10", 0))]
    for point, seed in zip(points, (0, 1, 2)):
        (point / "manifest.json").write_text(json.dumps({"overrides": ["model=tiny", f"seed={seed}"]}))
    status(points[0], state="done")
    status(points[1], state="failed", error="ValueError: y")
    (parent / "notes").mkdir()  # not a point
    text, failed = report(parent)
    lines = text.splitlines()
    assert failed == 1 and "(multirun)" in lines[0] and "1 queued, 1 done, 1 failed" in lines[0]
    assert [line.split()[:4] + line.split()[6:7] for line in lines[1:4]] == [
        ["000", "done", "it", "4/4", "seed=0"], ["001", "failed", "it", "2/4", "seed=1"],
        ["010", "queued", "it", "0/4", "seed=2"]]
    with pytest.raises(FileNotFoundError, match="nor the parent of a Hydra multirun"):
        report(parent / "notes")
