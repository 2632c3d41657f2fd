"""Every choice of every group composes on the defaults and validates; typos fail clearly."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from rlx.config.compose import check_overrides, group_choices, group_names
from rlx.config.schema import RunSettings
from rlx.config.validate import ConfigError, validate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_overrides(tmp_path_factory) -> dict[str, list[str]]:
    """Choices that need a local data file get a small real one."""
    d = tmp_path_factory.mktemp("data")
    gsm = d / "gsm8k.jsonl"
    gsm.write_text('{"question": "What is 2+3?", "answer": "2+3=5\\n#### 5"}\n')
    math = d / "math.jsonl"
    math.write_text('{"problem": "What is 1+1?", "solution": "$\\\\boxed{2}$", "level": "Level 1", '
                    '"type": "Prealgebra"}\n')
    ws = d / "webshop"
    ws.mkdir()
    for name in ("items_shuffle_1000.json", "items_ins_v2_1000.json", "items_human_ins.json"):
        (ws / name).write_text("{}")
    mbpp = d / "mbpp.jsonl"
    mbpp.write_text('{"task_id": 11, "text": "Add two numbers.", "code": "def add(a, b):\\n    return a + b", '
                    '"test_list": ["assert add(1, 2) == 3"], "test_setup_code": "", "challenge_test_list": []}\n')
    webshop = [f"env.catalogue.{key}={ws}/{name}" for key, name in (
        ("products_path", "items_shuffle_1000.json"), ("attributes_path", "items_ins_v2_1000.json"),
        ("human_instructions_path", "items_human_ins.json"))]
    return {"env=gsm8k": [f"env.source.path={gsm}"],
            "env=webshop_official": webshop,
            "env=alfworld_official": [f"env.games.data_path={d}"],
            "env=mbpp": [f"env.source.path={mbpp}"],
            "env=mbpp_multiturn": [f"env.source.path={mbpp}"],
            "env=math_competition": [f"env.source.path={math}"],
            "experiment=grpo_gsm8k_qwen0.5b": [f"env.source.path={gsm}"],
            "model=from_run": [f"model.run_dir={d}"],  # a key the user must set
            **{f"experiment={name}": [f"model.run_dir={d}"]
               for name in group_choices("experiment") if name.endswith("_from_sft")}}


def compose_and_validate(overrides):
    cfg = check_overrides(overrides)
    validate(OmegaConf.to_container(cfg, resolve=True), RunSettings)
    return cfg


def all_choices():
    return [(g, c) for g in group_names() if g != "experiment" for c in group_choices(g)]


@pytest.mark.parametrize("group,choice", all_choices())
def test_every_group_choice_composes_and_validates(group, choice, data_overrides):
    override = f"{group}={choice}"
    compose_and_validate([override, *data_overrides.get(override, [])])


@pytest.mark.parametrize("name", group_choices("experiment"))
def test_every_experiment_composes_and_validates(name, data_overrides):
    override = f"experiment={name}"
    cfg = compose_and_validate([override, *data_overrides.get(override, [])])
    assert cfg.experiment_name


def test_defaults_compose_to_documented_choices():
    cfg = compose_and_validate([])
    assert cfg.advantage._target_.endswith(".grpo")
    assert cfg.logger.mode == "offline"


def test_default_run_is_the_quickstart_recipe_and_overrides_still_win():
    cfg = compose_and_validate([])  # python launch.py
    assert list(cfg.env.source.kinds) == ["addition"] and cfg.env.source.max_digits == 1
    assert cfg.env.answer_format == "Answer with only the final number." and cfg.env.num_eval == 50
    assert cfg.rollout.max_new_tokens == 24 and cfg.trainer.lr == 2.0e-5 and cfg.iterations == 10
    assert cfg.trainer.eval_at_start and cfg.trainer.eval_tasks == 32
    assert cfg.experiment_name == "default" and cfg.rollout._target_ == "rlx.rollout.hf.HFEngine"
    changed = compose_and_validate(["env=math", "rollout.max_new_tokens=64", "iterations=3"])
    assert "gsm_symbolic" in changed.env.source.kinds and changed.rollout.max_new_tokens == 64
    assert changed.iterations == 3
    plain = compose_and_validate(["experiment=none"])  # the groups' own defaults
    assert list(plain.env.source.kinds) == ["addition", "word_problem"]
    assert plain.rollout.max_new_tokens == 128 and not plain.trainer.eval_at_start and plain.iterations == 6


def problems(overrides) -> list[str]:
    with pytest.raises(ConfigError) as info:
        compose_and_validate(overrides)
    return info.value.problems


def test_group_typo_suggests_choice():
    (msg,) = problems(["advantage=gpro"])
    assert 'unknown advantage "gpro" (did you mean "grpo"?)' in msg
    assert "choices:" in msg and "rloo" in msg


def test_wrong_type_names_key():
    (msg,) = problems(["trainer.lr=fast"])
    assert msg == "trainer.lr: expected a float, got 'fast' (str)"


def test_unknown_key_suggests_key():
    (msg,) = problems(["trainer.lrr=0.1"])
    assert 'did you mean "lr"' in msg and "trainer.lrr" in msg


def test_unknown_top_level_key():
    (msg,) = problems(["iteration=3"])
    assert 'did you mean "iterations"' in msg


def test_missing_data_path_says_what_and_how(tmp_path):
    errs = problems(["env=gsm8k", f"env.source.path={tmp_path}/none.jsonl"])
    assert any("none.jsonl" in e and "GSM8K" in e for e in errs)


def launch(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_cli_typo_exits_fast_and_writes_nothing(tmp_path):
    start = time.perf_counter()
    out = launch("advantage=gpro", f"runs_root={tmp_path}/runs", cwd=tmp_path)
    assert out.returncode == 2
    assert 'did you mean "grpo"' in out.stderr
    assert time.perf_counter() - start < 30
    assert not (tmp_path / "runs").exists() and not (tmp_path / "wandb").exists()


def test_cli_type_error_exits_before_run_dir(tmp_path):
    out = launch("model=tiny", "trainer.lr=fast", f"runs_root={tmp_path}/runs", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "trainer.lr: expected a float" in out.stderr
    assert not (tmp_path / "runs").exists()


def test_cli_cfg_job_prints_config(tmp_path):
    out = launch("--cfg", "job", "advantage=rloo", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    printed = OmegaConf.create(out.stdout)
    assert printed.advantage._target_.endswith(".rloo")


def test_cli_help_lists_groups(tmp_path):
    out = launch("--help", cwd=tmp_path)
    assert out.returncode == 0
    for group in ("advantage", "model", "env", "loss", "trainer", "experiment"):
        assert f"{group}:" in out.stdout


def test_trainer_cross_field_check_runs_before_launch():
    from rlx.launch import validate_config

    cfg = OmegaConf.to_container(check_overrides(["trainer.minibatches=3"]), resolve=True)
    with pytest.raises(ConfigError, match="minibatches=3 must divide"):
        validate_config(cfg)


def test_fsdp_refuses_a_curriculum_that_runs_the_policy_itself():
    from rlx.launch import validate_config

    cfg = OmegaConf.to_container(check_overrides(["curriculum=pcl", "trainer.parallel=fsdp"]), resolve=True)
    with pytest.raises(ConfigError, match=r"runs the policy model itself and does not support trainer.parallel=fsdp"):
        validate_config(cfg)
    ok = OmegaConf.to_container(check_overrides(["curriculum=difficulty_band", "trainer.parallel=fsdp"]), resolve=True)
    validate_config(ok)
