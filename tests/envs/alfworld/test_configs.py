import inspect
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rlx.config.validate import validate
from rlx.envs.alfworld import AlfWorldEnv, GeneratedGames, OfficialGames
from tests.envs.alfworld.conftest import requires_alfworld

ENV_CONF = Path(__file__).resolve().parents[3] / "conf" / "env"


def compose_env(name: str, overrides: list[str] = ()) -> dict:
    with initialize_config_dir(config_dir=str(ENV_CONF), version_base=None):
        return OmegaConf.to_container(compose(config_name=name, overrides=list(overrides)), resolve=True)


def signature_defaults(component) -> dict:
    return {n: p.default for n, p in inspect.signature(component).parameters.items() if p.default is not p.empty}


@pytest.mark.parametrize(
    ("name", "node", "component"),
    [("alfworld", (), AlfWorldEnv), ("alfworld", ("games",), GeneratedGames),
     ("alfworld_official", (), AlfWorldEnv), ("alfworld_official", ("games",), OfficialGames)],
)
def test_yaml_defaults_match_signature_defaults(monkeypatch, name, node, component):
    monkeypatch.setenv("ALFWORLD_DATA", "/data/alfworld")
    cfg = compose_env(name)
    for key in node:
        cfg = cfg[key]
    for key, default in signature_defaults(component).items():
        assert cfg[key] == default, key


def test_generated_config_validates_and_catches_typos():
    validate(compose_env("alfworld"))
    with pytest.raises(ValueError, match=r"games.task_types\[0\]: 'pick_and_plaec' is not one of"):
        validate(compose_env("alfworld", ["games.task_types=[pick_and_plaec]"]))
    with pytest.raises(ValueError, match=r"games.solver: 'fd' is not one of"):
        validate(compose_env("alfworld", ["games.solver=fd"]))


def test_official_config_says_the_data_is_missing(monkeypatch, tmp_path):
    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    with pytest.raises(ValueError, match=r"games\.data_path: missing value"):
        validate(compose_env("alfworld_official"))
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path / "absent"))
    missing = r"games\.data_path: ALFWorld data folder .* not found at .*absent.*alfworld-download"
    with pytest.raises(ValueError, match=missing):
        validate(compose_env("alfworld_official"))


@requires_alfworld
def test_generated_config_builds_and_plays(generated):
    cfg = compose_env("alfworld", ["games.num_train=6", "games.num_eval=6", f"games.cache_dir={generated.base}"])
    validate(cfg)
    env = instantiate(cfg)
    assert isinstance(env.games, GeneratedGames) and env.games.root == generated.root
    assert env.tasks("eval") == generated.tasks("eval")
    obs = env.reset(env.tasks("eval")[0])
    assert obs.admissible and env.step(obs.admissible[0]).reward == 0.0
