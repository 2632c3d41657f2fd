"""The SFT recipes and the RL recipes that start from them: composition and validation."""

import pytest

from rlx.config.compose import check_overrides
from rlx.config.validate import ConfigError
from rlx.launch import prepare, resolved, validate_config

PAIRS = [("sft_alfworld", "gigpo_alfworld_from_sft"), ("sft_alfworld", "grpo_alfworld_from_sft"),
         ("sft_webshop", "gigpo_webshop_from_sft"), ("sft_webshop", "grpo_webshop_from_sft")]


def compose(*args):
    return resolved(check_overrides(list(args)))


@pytest.mark.parametrize("sft, rl", PAIRS)
def test_rl_recipes_play_the_sft_recipes_environment(sft, rl, tmp_path):
    a, b = compose(f"experiment={sft}"), compose(f"experiment={rl}", f"model.run_dir={tmp_path}")
    assert a["trainer"]["_target_"] == "rlx.sft.settings.SFTSettings"
    assert b["model"] == {**b["model"], "_target_": "rlx.models.from_run.build_from_run", "run_dir": str(tmp_path)}
    assert a["env"] == b["env"] and a["agent"] == b["agent"]
    assert a["rollout"]["max_new_tokens"] == b["rollout"]["max_new_tokens"]
    assert a["trainer"]["eval_tasks"] == b["trainer"]["eval_tasks"]  # the same held-out tasks
    validate_config(a)
    validate_config(b)


@pytest.mark.parametrize("env", ["alfworld", "webshop"])
def test_gigpo_and_grpo_from_sft_differ_only_in_the_estimator(env, tmp_path):
    gigpo = compose(f"experiment=gigpo_{env}_from_sft", f"model.run_dir={tmp_path}")
    grpo = compose(f"experiment=grpo_{env}_from_sft", f"model.run_dir={tmp_path}")
    differ = {k for k in gigpo if gigpo[k] != grpo[k]}
    assert differ == {"advantage", "experiment_name", "logger"}
    assert {**gigpo["logger"], "group": None} == {**grpo["logger"], "group": None}  # W&B group = experiment_name


def test_an_unset_sft_run_dir_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"model\.run_dir: missing value"):
        validate_config(compose("experiment=gigpo_alfworld_from_sft"))


def test_a_missing_sft_run_dir_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"model\.run_dir: rlx run directory .* not found"):
        validate_config(compose("experiment=grpo_webshop_from_sft", f"model.run_dir={tmp_path / 'nope'}"))


def test_trainer_sft_without_a_demonstrator_says_what_to_set():
    with pytest.raises(ConfigError, match=r"trainer\.demos"):
        validate_config(compose("trainer=sft", "env=webshop", "agent=webshop"))


def test_sft_runs_in_one_process(tmp_path):
    with pytest.raises(ConfigError, match="launcher.nprocs=1"):
        validate_config(compose("experiment=sft_webshop", "launcher.nprocs=2", "device=cpu"))


def test_a_misspelt_sft_key_is_named():
    with pytest.raises(ConfigError, match=r"trainer\.batchsize: unknown key .*did you mean \"batch_size\""):
        validate_config(compose("experiment=sft_webshop", "+trainer.batchsize=4"))
