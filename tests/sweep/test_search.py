"""Optuna search: suggestions, objective values read from metrics, and a real 3-trial search."""

import json
from pathlib import Path

import optuna
import pytest

from rlx.sweep.__main__ import main as sweep_main
from rlx.sweep.registry import load_registry
from rlx.sweep.search import objective_value, suggest
from rlx.sweep.spec import SearchParam


def test_suggest_maps_each_kind_of_dimension():
    trial = optuna.trial.FixedTrial({"a": 0.5, "b": 3, "c": "x"})
    assert suggest(trial, SearchParam("a", low=0.1, high=1.0, log=True)) == 0.5
    assert suggest(trial, SearchParam("b", low=1, high=4, integer=True)) == 3
    assert suggest(trial, SearchParam("c", choices=("x", "y"))) == "x"


def test_objective_value_is_the_last_finite_value(tmp_path):
    rows = [{"step": 1, "m": 0.1}, {"step": 2, "m": 0.3, "other": 1}, {"step": 3, "other": 2}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert objective_value(tmp_path, "m") == 0.3
    assert objective_value(tmp_path, "missing") is None
    assert objective_value(tmp_path / "nope", "m") is None


@pytest.mark.slow
def test_optuna_search_runs_trials_and_records_values(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text("""name: lr_search
overrides: [experiment=none, model=tiny, logger=none, env=sanity_digits, iterations=1, trainer.tasks_per_iter=2,
            trainer.group_size=2, rollout.max_new_tokens=8, trainer.eval_tasks=2]
optuna:
  metric: reward/mean
  n_trials: 3
  batch: 2
  params:
    trainer.lr: {low: 1.0e-6, high: 1.0e-3, log: true}
    rollout.temperature: {choices: [0.7, 1.0]}
""")
    assert sweep_main(["s.yaml"]) == 0
    (reg,) = (tmp_path / "runs" / "sweeps" / "lr_search").glob("*/registry.json")
    registry = load_registry(reg.parent)
    assert len(registry.points) == 3 and (reg.parent / "optuna.db").exists()
    for record in registry.points:
        assert set(record.params) == {"trainer.lr", "rollout.temperature"}
        assert 1e-6 <= record.params["trainer.lr"] <= 1e-3
        assert record.value == objective_value(Path(record.run_dir), "reward/mean") is not None
        assert f"trainer.lr={record.params['trainer.lr']}" in record.overrides
    assert "rlx: best reward/mean = " in capsys.readouterr().out


def test_optuna_range_ends_are_validated_first(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text("overrides: [model=tiny]\noptuna:\n  metric: m\n  params:\n"
                                     "    trainer.lrr: {low: 1.0e-6, high: 1.0e-3}\n")
    assert sweep_main(["s.yaml"]) == 2
    assert 'trainer.lrr' in capsys.readouterr().err and not (tmp_path / "runs").exists()
