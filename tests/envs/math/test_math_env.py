import inspect
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from rlx.config.validate import validate
from rlx.envs.base import Score, Task
from rlx.envs.math import GeneratedTasks, MathEnv

ENV_CONF = Path(__file__).resolve().parents[3] / "conf" / "env"


def listed(*tasks: Task):
    return lambda: list(tasks)


def small_env(**kwargs) -> MathEnv:
    source = GeneratedTasks(kinds=["addition", "word_problem"], size_per_kind=60)
    return MathEnv(source=source, **{"num_eval": 20, **kwargs})


def test_splits_are_disjoint_and_cover_the_source():
    env = small_env()
    train, held_out = env.tasks("train"), env.tasks("eval")
    assert (len(train), len(held_out)) == (100, 20)
    assert not {t.uid for t in train} & {t.uid for t in held_out}
    assert not {t.prompt for t in train} & {t.prompt for t in held_out}


def test_split_is_deterministic_given_seed():
    assert small_env(seed=1).tasks("eval") == small_env(seed=1).tasks("eval")
    assert small_env(seed=1).tasks("eval") != small_env(seed=2).tasks("eval")


def test_duplicate_prompts_are_dropped_before_splitting():
    one, same_prompt, other = Task("a", "1 + 1?", "2"), Task("b", "1 + 1?", "2"), Task("c", "2 + 2?", "4")
    env = MathEnv(source=listed(one, same_prompt, other), num_eval=1)
    assert sorted(t.uid for t in [*env.tasks("train"), *env.tasks("eval")]) == ["a", "c"]


def test_eval_source_is_held_out_and_removed_from_train():
    shared = Task("test-0", "What is 5 + 5?", "10")
    train_source = listed(Task("train-0", "What is 5 + 5?", "10"), Task("train-1", "What is 6 + 1?", "7"))
    env = MathEnv(source=train_source, eval_source=listed(shared), num_eval=1)
    assert env.tasks("eval") == [shared]
    assert [t.uid for t in env.tasks("train")] == ["train-1"]


def test_bad_sizes_fail_with_a_reason():
    with pytest.raises(ValueError, match="num_eval=5 but the eval pool has 2"):
        MathEnv(source=listed(Task("a", "p", "1"), Task("b", "q", "2")), num_eval=5)
    with pytest.raises(ValueError, match="no training tasks left"):
        MathEnv(source=listed(Task("a", "p", "1")), num_eval=1)
    with pytest.raises(ValueError, match="duplicate task uid"):
        MathEnv(source=listed(Task("a", "p", "1"), Task("a", "q", "2")), num_eval=0)


def test_messages_shape():
    env = small_env(system_prompt="Be brief.", answer_format="Put the answer in \\boxed{}.")
    task = Task("t", "What is 2 + 3?", "5")
    assert env.messages(task) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2 + 3?\n\nPut the answer in \\boxed{}."},
    ]
    bare = small_env(system_prompt="", answer_format="")
    assert bare.messages(task) == [{"role": "user", "content": "What is 2 + 3?"}]


def test_score_right_wrong_unparseable():
    env = small_env(format_reward=0.1)
    tasks = [Task("a", "What is 2 + 3?", "5"), Task("b", "Half?", "\\frac{1}{2}"), Task("c", "q", "7")] * 2
    completions = [
        "2 + 3 = 5, so \\boxed{5}.",
        "It is 0.5.",  # last-number fallback + math-verify
        "seven",
        "\\boxed{6}",
        "#### 1/3",
        "I don't know.",
    ]
    assert env.score(tasks, completions) == [
        Score(1.0, True, True, "5"),
        Score(1.0, True, True, "0.5"),
        Score(0.0, False, False, None),
        Score(0.1, False, True, "6"),
        Score(0.1, False, True, "1/3"),
        Score(0.0, False, False, None),
    ]


def test_score_custom_reward_and_no_fallback():
    env = small_env(correct_reward=2.0, last_number_fallback=False)
    tasks = [Task("a", "q", "5")] * 2
    assert [s.reward for s in env.score(tasks, ["\\boxed{5}", "it is 5"])] == [2.0, 0.0]
    with pytest.raises(ValueError, match="2 tasks but 1 completions"):
        env.score(tasks, ["5"])


def compose_env(name: str, overrides: list[str] = ()) -> dict:
    with initialize_config_dir(config_dir=str(ENV_CONF), version_base=None):
        return OmegaConf.to_container(compose(config_name=name, overrides=list(overrides)), resolve=True)


@pytest.mark.parametrize("name", ["math", "arithmetic"])
def test_embedded_configs_validate_and_build(name):
    cfg = compose_env(name, ["source.size_per_kind=50", "num_eval=10"])
    validate(cfg)
    env = instantiate(cfg)
    assert len(env.tasks("eval")) == 10 and len(env.tasks("train")) > 50


@pytest.mark.parametrize(
    ("name", "variable"), [("gsm8k", "RLX_GSM8K_PATH"), ("math_competition", "RLX_MATH_PATH")]
)
def test_file_configs_say_the_path_is_missing(monkeypatch, tmp_path, name, variable):
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ValueError, match=r"source\.path: missing value"):
        validate(compose_env(name))
    monkeypatch.setenv(variable, str(tmp_path / "absent.jsonl"))
    with pytest.raises(ValueError, match=r"source\.path: .* not found at .*absent\.jsonl"):
        validate(compose_env(name))


def test_gsm8k_config_builds_from_a_local_file(monkeypatch, tmp_path):
    rows = "".join(f'{{"question": "Q{i}?", "answer": "#### {i}"}}\n' for i in range(6))
    (tmp_path / "train.jsonl").write_text(rows)
    monkeypatch.setenv("RLX_GSM8K_PATH", str(tmp_path / "train.jsonl"))
    cfg = compose_env("gsm8k", ["num_eval=2"])
    validate(cfg)
    env = instantiate(cfg)
    assert (len(env.tasks("train")), len(env.tasks("eval"))) == (4, 2)
    task = env.tasks("train")[0]
    assert env.score([task], [f"\\boxed{{{task.answer}}}"])[0].correct


@pytest.mark.parametrize(("node", "component"), [((), MathEnv), (("source",), GeneratedTasks)])
def test_default_yaml_matches_signature_defaults(node, component):
    cfg = compose_env("math")
    for key in node:
        cfg = cfg[key]
    for name, param in inspect.signature(component).parameters.items():
        if param.default is not param.empty:
            default = list(param.default) if isinstance(param.default, tuple) else param.default
            assert cfg[name] == default, name
