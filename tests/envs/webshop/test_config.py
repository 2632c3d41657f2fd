"""The env=webshop choices compose, validate, build with Hydra, and play in another process."""

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rlx.config.compose import check_overrides
from rlx.config.preflight import preflight
from rlx.config.validate import ConfigError, validate
from rlx.envs.webshop import GeneratedCatalogue, OfficialCatalogue, WebShopEnv
from tests.envs.webshop.tiny_shop import BUY_TARGET, TinyShop, play_episode


def env_config(overrides):
    """The resolved, validated env node (only the env is checked: other groups import torch),
    its cheap components' own checks included (`preflight`, as launch.py runs them)."""
    node = OmegaConf.to_container(check_overrides(overrides).env, resolve=True)
    validate({"env": node})
    preflight({"env": node})
    return node


def test_default_webshop_config_builds_the_generated_catalogue():
    node = env_config(["env=webshop"])
    env = instantiate(node, _convert_="all")
    assert isinstance(env, WebShopEnv) and isinstance(env.source, GeneratedCatalogue)
    assert (env.max_steps, env.test_goals, env.dev_goals, env.search_results, env.page_size) == (
        15,
        500,
        1000,
        50,
        10,
    )
    assert len(env.tasks("eval")) == 500 and env.source.num_products == 3000


def test_official_config_needs_the_data(tmp_path):
    with pytest.raises(ConfigError) as info:
        env_config(["env=webshop_official", f"env.catalogue.products_path={tmp_path}/items_shuffle_1000.json"])
    assert any("items_shuffle_1000.json" in p and "setup.sh" in p for p in info.value.problems)


def test_official_config_on_the_real_records(sample_dir):
    node = env_config(
        [
            "env=webshop_official",
            f"env.catalogue.products_path={sample_dir}/products_sample.json",
            f"env.catalogue.attributes_path={sample_dir}/items_ins_v2_sample.json",
            "env.catalogue.goals=synthetic",
            "env.catalogue.human_instructions_path=null",
            "env.test_goals=20",
            "env.dev_goals=20",
        ]
    )
    env = instantiate(node, _convert_="all")
    assert isinstance(env.source, OfficialCatalogue)
    assert (len(env.tasks("eval")), len(env.tasks("train"))) == (20, 87)


def test_an_env_plays_in_a_spawned_worker_process():
    env = WebShopEnv(TinyShop(), test_goals=0, dev_goals=0)
    task = env.tasks("train")[0]
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = pool.submit(play_episode, env, task, BUY_TARGET).result(timeout=60)
    assert remote == play_episode(env, task, BUY_TARGET) and remote[-1].reward == 1.0
    assert json.dumps(remote[-1].info)  # step infos are JSON-able


SAMPLE_NAMES = ["env=webshop_official", "env.catalogue.products_path=products_sample.json",
                "env.catalogue.attributes_path=items_ins_v2_sample.json",
                "env.test_goals=20", "env.dev_goals=20"]


def test_rlx_webshop_data_with_other_file_names_and_no_human_instructions(sample_dir, monkeypatch):
    # the sample folder holds only a products file and an attributes file, named otherwise
    monkeypatch.setenv("RLX_WEBSHOP_DATA", str(sample_dir))
    node = env_config([*SAMPLE_NAMES, "env.catalogue.goals=synthetic"])
    env = instantiate(node, _convert_="all")
    assert env.source.products_path == str(sample_dir / "products_sample.json")
    assert (len(env.tasks("eval")), len(env.tasks("train"))) == (20, 87)


def test_missing_human_instructions_name_the_file_and_the_goals_that_do_without(sample_dir, monkeypatch):
    monkeypatch.setenv("RLX_WEBSHOP_DATA", str(sample_dir))
    with pytest.raises(ConfigError) as info:
        env_config(SAMPLE_NAMES)  # goals: human by default
    (problem,) = info.value.problems
    assert problem.startswith("env.catalogue: WebShop human instructions file (items_human_ins.json) "
                              f"not found at '{sample_dir / 'items_human_ins.json'}' "
                              "(human_instructions_path; goals=human reads it, "
                              "env.catalogue.goals=synthetic does without it")
    with pytest.raises(ConfigError) as info:
        env_config([*SAMPLE_NAMES, "env.catalogue.attributes_path=items_ins_v2_1000.json",
                    "env.catalogue.goals=synthetic"])
    (problem,) = info.value.problems
    assert "WebShop attributes file (items_ins_v2*.json) not found at" in problem
    assert "items_ins_v2_1000.json' (attributes_path)" in problem and "human" not in problem.split(".")[0]
