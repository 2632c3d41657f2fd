"""Sweep files: parsing, errors that name the bad key, and expansion into point overrides."""

from pathlib import Path

import pytest

from rlx.config.validate import ConfigError
from rlx.sweep.spec import expand, format_value, load_sweep

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_points_cross_grid_with_extra_overrides_last(tmp_path):
    spec = load_sweep(write(tmp_path, """
name: cmp
overrides: [env=math_easy]
points:
  - [advantage=grpo]
  - [advantage=dr_grpo, loss.policy.agg=seq_mean_token_sum_norm]
grid:
  seed: [0, 1]
  trainer.lr: [1.0e-5]
array_parallelism: 3
"""))
    assert spec.name == "cmp" and spec.array_parallelism == 3
    assert expand(spec, ["iterations=2"]) == [
        ["env=math_easy", "advantage=grpo", "seed=0", "trainer.lr=1e-05", "iterations=2"],
        ["env=math_easy", "advantage=grpo", "seed=1", "trainer.lr=1e-05", "iterations=2"],
        ["env=math_easy", "advantage=dr_grpo", "loss.policy.agg=seq_mean_token_sum_norm", "seed=0",
         "trainer.lr=1e-05", "iterations=2"],
        ["env=math_easy", "advantage=dr_grpo", "loss.policy.agg=seq_mean_token_sum_norm", "seed=1",
         "trainer.lr=1e-05", "iterations=2"],
    ]


def test_grid_only_and_name_from_file(tmp_path):
    spec = load_sweep(write(tmp_path, "grid:\n  advantage: [grpo, rloo]\n"))
    assert spec.name == "s"
    assert expand(spec) == [["advantage=grpo"], ["advantage=rloo"]]


def test_format_value():
    assert [format_value(v) for v in (None, True, [1, "a"], 0.5)] == ["null", "true", "[1,a]", "0.5"]


@pytest.mark.parametrize("text, needle", [
    ("nmae: x\n", "unknown key 'nmae' (did you mean \"name\"?)"),
    ("overrides: [reward=[a,b]]\n", "is not valid YAML (quote overrides holding [ ] or , )"),
    ("points: [advantage=grpo]\n", "points must be a list of override lists"),
    ("grid: [seed]\n", "grid must map a config key"),
    ("optuna: {metric: m, params: {trainer.lr: {low: 1}}}\n", "optuna.params.trainer.lr: give {low, high"),
    ("optuna: {metric: m, params: {trainer.lr: {low: 0, high: 1}}, direction: up}\n", "direction is maximize|minimize"),
    ("optuna: {metric: m, n_trails: 3, params: {a: {choices: [1]}}}\n", "did you mean \"n_trials\""),
])
def test_bad_sweep_files_name_the_problem(tmp_path, text, needle):
    with pytest.raises(ConfigError) as err:
        load_sweep(write(tmp_path, text))
    assert needle in str(err.value)


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_sweep("sweeps/nope.yaml")


@pytest.mark.parametrize("path", sorted((ROOT / "sweeps").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_sweep_validates(path, tmp_path):
    """Each sweeps/*.yaml composes and validates point by point (what --dry-run does). Sweeps
    from an SFT checkpoint need the user's run directory (any existing folder validates)."""
    from rlx.sweep.__main__ import main

    user_keys = [f"model.run_dir={tmp_path}"] if "from_sft" in path.name else []
    assert main([str(path), *user_keys, "--dry-run"]) == 0
