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
