"""`launch.py ... launcher.nprocs=2`: two gloo training processes through torchrun; only rank 0
logs, prints and checkpoints; a single process resumes the checkpoint (DDP and FSDP)."""

import subprocess
import sys
from pathlib import Path

import pytest

from rlx.config.compose import check_overrides
from rlx.launch import prepare
from rlx.logging.base import read_metrics
from rlx.train.checkpoint import list_checkpoints
from rlx.train.recipe import run

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def launch_two(tmp_path: Path, *overrides: str) -> tuple[Path, str]:
    args = ["experiment=smoke", "model=tiny", "logger=none", "launcher.nprocs=2",
            "trainer.checkpoint_every=1", "trainer.eval_tasks=3", f"runs_root={tmp_path}", *overrides]
    out = subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-5000:]
    (run_dir,) = [p.parent for p in tmp_path.glob("**/config.yaml")]
    return run_dir, out.stdout + out.stderr


def resume_in_one_process(run_dir: Path, tmp_path: Path, *overrides: str, capsys) -> list[dict]:
    args = ["experiment=smoke", "model=tiny", "logger=none", "trainer.checkpoint_every=1",
            "trainer.eval_tasks=3", f"runs_root={tmp_path}", *overrides, "iterations=3",
            f"resume={run_dir}"]
    _, same_dir = prepare(check_overrides(args), choices={}, overrides=args)
    assert same_dir == run_dir
    run(run_dir)
    assert "resumed from checkpoint at iteration 2" in capsys.readouterr().out
    return read_metrics(run_dir / "metrics.jsonl")


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_then_one_process_resume(tmp_path, capsys, parallel):
    extra = [f"trainer.parallel={parallel}"]
    if parallel == "fsdp":
        extra.append("loss.kl_coef=0.05")  # the reference model is sharded too
    run_dir, output = launch_two(tmp_path, *extra)
    rows = read_metrics(run_dir / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]  # one line per iteration: rank 0 alone logs
    assert rows[0]["rollout/num_rows"] == 16.0  # the global batch: 4 tasks x 4, 2 tasks per rank
    assert "eval/pass@1" in rows[1] and rows[1]["eval/num_tasks"] == 3.0  # 2 + 1 eval tasks
    assert output.count("iter 2/2") == 1 and output.count("rlx: done") == 1
    assert [p.name for p in list_checkpoints(run_dir)] == ["step_1", "step_2"]
    resumed = resume_in_one_process(run_dir, tmp_path, *extra, capsys=capsys)
    assert [r["step"] for r in resumed] == [1, 2, 3]
    assert [p.name for p in list_checkpoints(run_dir)] == ["step_2", "step_3"]
