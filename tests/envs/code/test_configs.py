import inspect
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rlx.config.validate import validate
from rlx.envs.code import CodeEnv, CodeFeedbackEnv, HumanEvalTasks, MbppTasks
from rlx.sandbox import Sandbox
from tests.sandbox.helpers import requires_bwrap, requires_humaneval

ENV_CONF = Path(__file__).resolve().parents[3] / "conf" / "env"
MBPP_ROW = {"task_id": 700, "text": "Write a function to double x.", "code": "def double(x):\n    return 2 * x",
            "test_list": ["assert double(2) == 4", "assert double(0) == 0"]}


def compose_env(name: str, overrides: list[str] = ()) -> dict:
    with initialize_config_dir(config_dir=str(ENV_CONF), version_base=None):
        return OmegaConf.to_container(compose(config_name=name, overrides=list(overrides)), resolve=True)


def signature_defaults(component) -> dict:
    return {n: p.default for n, p in inspect.signature(component).parameters.items() if p.default is not p.empty}


@pytest.mark.parametrize(
    ("name", "node", "component"),
    [("code", (), CodeEnv), ("code", ("sandbox",), Sandbox), ("code", ("source",), HumanEvalTasks),
     ("code_multiturn", (), CodeFeedbackEnv), ("code_multiturn", ("sandbox",), Sandbox),
     ("mbpp", ("source",), MbppTasks)],
)
def test_yaml_defaults_match_signature_defaults(monkeypatch, name, node, component):
    monkeypatch.setenv("RLX_MBPP_PATH", "/data/mbpp.jsonl")
    cfg = compose_env(name)
    for key in node:
        cfg = cfg[key]
    for key, default in signature_defaults(component).items():
        assert cfg[key] == default, key


@requires_bwrap
@requires_humaneval
@pytest.mark.parametrize(("name", "env_class"), [("code", CodeEnv), ("code_multiturn", CodeFeedbackEnv)])
def test_humaneval_configs_validate_and_build(name, env_class):
    cfg = compose_env(name, ["sandbox.workers=1"])
    validate(cfg)
    env = instantiate(cfg)
    assert isinstance(env, env_class) and isinstance(env.sandbox, Sandbox)
    assert (len(env.tasks("train")), len(env.tasks("eval"))) == (100, 64)


@pytest.mark.parametrize("name", ["mbpp", "mbpp_multiturn"])
def test_mbpp_configs_say_the_path_is_missing(monkeypatch, tmp_path, name):
    monkeypatch.delenv("RLX_MBPP_PATH", raising=False)
    with pytest.raises(ValueError, match=r"source\.path: missing value"):
        validate(compose_env(name))
    monkeypatch.setenv("RLX_MBPP_PATH", str(tmp_path / "absent.jsonl"))
    with pytest.raises(ValueError, match=r"source\.path: MBPP-format .* not found at .*absent\.jsonl"):
        validate(compose_env(name))


@requires_bwrap
@pytest.mark.parametrize("name", ["mbpp", "mbpp_multiturn"])
def test_mbpp_configs_build_from_a_local_file(monkeypatch, tmp_path, name):
    rows = [dict(MBPP_ROW, task_id=700 + i, text=f"Write a function to double x ({i}).") for i in range(4)]
    (tmp_path / "mbpp.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("RLX_MBPP_PATH", str(tmp_path / "mbpp.jsonl"))
    cfg = compose_env(name, ["num_eval=1", "sandbox.workers=1"])
    validate(cfg)
    env = instantiate(cfg)
    assert (len(env.tasks("train")), len(env.tasks("eval"))) == (3, 1)


def test_a_wrong_bwrap_path_fails_when_the_env_is_built():
    cfg = compose_env("code", ["sandbox.bwrap=/nonexistent/bwrap"])
    validate(cfg)  # a string: only building the sandbox can tell
    with pytest.raises(Exception, match="apt-get install bubblewrap"):
        instantiate(cfg)
