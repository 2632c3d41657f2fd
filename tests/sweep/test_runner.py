"""Sweeps end to end on this machine: validation before anything is written, one run dir and
fresh process per point, the registry, failures reported as failures, W&B grouping."""

import json
from pathlib import Path

import pytest

from rlx.config.validate import ConfigError
from rlx.run_dir import read_config, read_manifest
from rlx.status import main as status_main
from rlx.status import report
from rlx.sweep.__main__ import main as sweep_main
from rlx.sweep.registry import load_registry
from rlx.sweep.runner import local_slots, prepare_points

TINY = "[experiment=none, model=tiny, logger=none, env=sanity_digits, iterations=2, trainer.tasks_per_iter=2, " \
       "trainer.group_size=2, rollout.max_new_tokens=8, trainer.eval_tasks=2]"


def sweep_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(body)
    return path


def only_sweep_dir(tmp_path: Path) -> Path:
    (reg,) = (tmp_path / "runs" / "sweeps").glob("*/*/registry.json")
    return reg.parent


def test_bad_point_stops_the_sweep_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    spec = sweep_file(tmp_path, f"name: bad\noverrides: {TINY}\npoints:\n  - [advantage=grpo]\n  - [advantage=gpro]\n")
    assert sweep_main([str(spec)]) == 2
    err = capsys.readouterr().err
    assert 'point 1: advantage=gpro: unknown advantage "gpro" (did you mean "grpo"?)' in err
    assert not (tmp_path / "runs").exists()


def test_the_same_problem_in_every_point_is_listed_once():
    with pytest.raises(ConfigError) as err:
        prepare_points("x", [["model=tiny", "trainer.lr=fast", "seed=0"], ["model=tiny", "trainer.lr=fast", "seed=1"]])
    assert len(err.value.problems) == 1 and err.value.problems[0].startswith("all points: trainer.lr")


@pytest.mark.slow
def test_local_sweep_runs_each_point_and_reports_the_failure(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # the third point validates but cannot load its model offline: a runtime failure
    spec = sweep_file(tmp_path, f"""name: three
overrides: {TINY}
points:
  - [seed=0]
  - [seed=1, advantage=rloo]
  - [model=qwen2.5-0.5b-instruct]
""")
    assert sweep_main([str(spec), "--parallel", "2"]) == 1
    sweep_dir = only_sweep_dir(tmp_path)
    registry = load_registry(sweep_dir)
    assert [p.point for p in registry.points] == [0, 1, 2] and registry.launcher == "LocalLauncher"
    assert registry.points[1].overrides[-2:] == ["seed=1", "advantage=rloo"]
    for record in registry.points:
        run_dir = Path(record.run_dir)
        assert run_dir.parent == sweep_dir
        assert read_manifest(run_dir)["sweep"] == {"name": "three", "dir": str(sweep_dir), "point": record.point}
    assert read_config(Path(registry.points[1].run_dir))["seed"] == 1
    assert len((Path(registry.points[0].run_dir) / "metrics.jsonl").read_text().splitlines()) == 2
    capsys.readouterr()
    text, failed = report(sweep_dir)
    assert failed == 1
    lines = text.splitlines()
    assert "2 done, 1 failed" in lines[0]
    assert lines[1].split()[:4] == ["000", "done", "it", "2/2"]
    assert lines[3].split()[:4] == ["002", "failed", "it", "0/2"] and "HubUnreachableError" in lines[3]
    assert any("--- point 002 failed" in line for line in lines)
    assert status_main([str(sweep_dir)]) == 1


@pytest.mark.slow
def test_sweep_points_share_a_wandb_group_and_keep_their_preset_run_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    tiny = TINY.replace("logger=none", "logger=wandb").replace("iterations=2", "iterations=1")
    spec = sweep_file(tmp_path, f"name: grouped\noverrides: {tiny}\ngrid:\n  seed: [0]\n")
    assert sweep_main([str(spec)]) == 0
    (record,) = load_registry(only_sweep_dir(tmp_path)).points
    run_dir = Path(record.run_dir)
    logger = read_config(run_dir)["logger"]
    assert logger["group"] == "grouped" and "sweep:grouped" in logger["tags_extra"]
    assert record.wandb_run_id and (run_dir / "wandb_run_id.txt").read_text() == record.wandb_run_id
    (offline,) = run_dir.glob("wandb/offline-run-*")
    assert offline.name.endswith(record.wandb_run_id)
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"


def test_local_slots_one_gpu_each(monkeypatch):
    gpus = lambda *ids: monkeypatch.setattr("rlx.sweep.runner.visible_gpu_ids", lambda: list(ids))  # noqa: E731
    gpus("3", "5")
    assert local_slots(4) == [{"CUDA_VISIBLE_DEVICES": "3"}, {"CUDA_VISIBLE_DEVICES": "5"}]
    assert local_slots(1) == [{"CUDA_VISIBLE_DEVICES": "3"}]
    gpus("0", "1", "2", "3", "4")
    assert local_slots(4, per_point=2) == [{"CUDA_VISIBLE_DEVICES": "0,1"}, {"CUDA_VISIBLE_DEVICES": "2,3"}]
    gpus()
    assert local_slots(1) == [{}]
    monkeypatch.setattr("rlx.sweep.runner.available_cpus", lambda: 4)
    assert len(local_slots(8, per_point=2)) == 2 and len(local_slots(3)) == 3


def test_visible_gpu_ids_follow_cuda_visible_devices(monkeypatch):
    import torch

    from rlx.launchers.local import visible_gpu_ids, visible_gpus

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # e.g. a fake GRES on a CPU node
    assert visible_gpu_ids() == [] and visible_gpus() == 0
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert visible_gpu_ids() == ["3", "5"] and visible_gpus() == 2
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpu_ids() == ["0", "1"]


@pytest.mark.slow
def test_a_point_failing_on_its_data_names_the_cause(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "gsm8k.jsonl"  # a record without the '#### <final>' line
    data.write_text(json.dumps({"question": "1 + 1?", "answer": "it is 2"}) + "\n")
    spec = sweep_file(tmp_path, f"name: data\noverrides: {TINY}\npoints:\n"
                                f"  - [env=gsm8k, env.source.path={data}, env.num_eval=1]\n")
    assert sweep_main([str(spec)]) == 1
    out = capsys.readouterr().out
    assert "rlx: 000 FAILED (exit 1): ValueError: GSM8K answer has no '#### <final>' line" in out
    text, failed = report(only_sweep_dir(tmp_path))
    (line,) = [x for x in text.splitlines() if x.split()[:1] == ["000"]]
    assert failed == 1 and "ValueError: GSM8K answer has no" in line
    assert "InstantiationException" not in text
