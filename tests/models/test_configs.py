"""conf/model/*.yaml: every key is a builder argument, and the configs pass rlx's validator."""

import inspect
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rlx.config.validate import ConfigError, import_target, validate

MODEL_CONFIGS = sorted((Path(__file__).parents[2] / "conf" / "model").glob("*.yaml"))
RUNTIME_ARGS = {"device", "trainable"}


def test_the_expected_choices_exist():
    names = {p.stem for p in MODEL_CONFIGS}
    assert {"tiny", "smollm2-135m", "qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct", "qwen2.5-7b-instruct"} <= names


@pytest.mark.parametrize("path", MODEL_CONFIGS, ids=lambda p: p.stem)
def test_config_matches_its_builder(path, tmp_path):
    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    cfg = {k: str(tmp_path) if v == "???" else v for k, v in cfg.items()}  # keys the user must set (from_run)
    assert cfg["_partial_"] is True
    params = inspect.signature(import_target(cfg["_target_"])).parameters
    keys = {k for k in cfg if not k.startswith("_")}
    assert keys <= set(params), keys - set(params)
    assert RUNTIME_ARGS <= set(params)  # the trainer passes these
    assert keys == set(params) - RUNTIME_ARGS  # every config knob is visible in the YAML
    validate({"model": cfg})


def test_validator_names_a_wrong_lora_key():
    cfg = OmegaConf.to_container(OmegaConf.load(MODEL_CONFIGS[0].parent / "tiny.yaml"))
    cfg["lora"] = {"rank": 4, "alpah": 8}
    with pytest.raises(ConfigError, match="alpah"):
        validate({"model": cfg})


def test_tiny_yaml_instantiates_to_a_builder(tmp_path):
    cfg = OmegaConf.load(MODEL_CONFIGS[0].parent / "tiny.yaml")
    cfg.cache_dir = str(tmp_path)
    cfg.lora = {"rank": 2, "alpha": 4}  # what `model.lora={rank:2,alpha:4}` does
    build = instantiate(cfg)
    policy = build(device="cpu")
    reference = build(device="cpu", trainable=False)
    assert any(p.requires_grad for p in policy.model.parameters())
    assert all("lora_" in n for n, p in policy.model.named_parameters() if p.requires_grad)
    assert not any(p.requires_grad for p in reference.model.parameters())
