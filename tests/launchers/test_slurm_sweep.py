"""A sweep on SLURM: one job array, a registry with job ids, and rlx.status following it to the
end, a failing point reported as failed with its error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rlx.run_dir import read_config
from rlx.status import report
from rlx.sweep.__main__ import main as sweep_main
from rlx.sweep.registry import load_registry
from tests.launchers.slurm_helpers import SMALL_JOB, TINY

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("slurm")]


def test_three_point_sweep_is_one_array_followed_by_status(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    overrides = ", ".join([*TINY, "env=sanity_digits", *SMALL_JOB])
    # the third point validates but cannot load its model offline: it fails inside the job
    (tmp_path / "s.yaml").write_text(f"""name: slurm3
overrides: [{overrides}]
points:
  - [seed=0]
  - [seed=1]
  - [model=qwen2.5-0.5b-instruct]
array_parallelism: 2
""")
    started = time.monotonic()
    assert sweep_main(["s.yaml"]) == 0  # returns once queued
    queued_in = time.monotonic() - started
    out = capsys.readouterr().out
    assert "3 points queued as one job array" in out
    (reg,) = (tmp_path / "runs" / "sweeps" / "slurm3").glob("*/registry.json")
    registry = load_registry(reg.parent)
    array_ids = {p.job_id.split("_")[0] for p in registry.points}
    assert len(array_ids) == 1 and [p.job_id.split("_")[1] for p in registry.points] == ["0", "1", "2"]
    assert registry.launcher == "SlurmLauncher"
    assert read_config(Path(registry.points[0].run_dir))["launcher"]["array_parallelism"] == 2
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        text, failed = report(reg.parent)
        if "queued" not in text.splitlines()[0] and "running" not in text.splitlines()[0]:
            break
        time.sleep(1)
    lines = text.splitlines()
    assert "2 done, 1 failed" in lines[0], text
    assert [line.split()[1] for line in lines[1:4]] == ["done", "done", "failed"]
    assert "HubUnreachableError" in lines[3] and failed == 1
    assert any("--- point 002 failed" in line for line in lines)
    print(f"sweep queued in {queued_in:.1f}s, finished in {time.monotonic() - started:.1f}s")
