"""The validator on hand-made nodes: unknown keys, types, Literal choices, paths, missing values."""

from dataclasses import dataclass
from typing import Literal

import pytest

from rlx.config.types import DataPath
from rlx.config.validate import ConfigError, validate


@dataclass
class Settings:
    lr: float
    steps: int = 1
    mode: Literal["fast", "slow"] = "fast"
    betas: tuple[float, float] = (0.9, 0.99)
    name: str | None = None
    workers: int | Literal["auto"] = 1


def load(path: DataPath("GSM8K jsonl", how="download it to data/gsm8k.jsonl"), split: str = "train"):
    return path


def problems(cfg, schema=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate(cfg, schema)
    return info.value.problems


T = "tests.config.test_validate"


def test_valid_node_passes():
    validate({"trainer": {"_target_": f"{T}.Settings", "lr": 1, "steps": 3, "mode": "slow",
                          "betas": [0.9, 0.95], "name": None}})


def test_unknown_key_names_valid_keys_and_close_match():
    (msg,) = problems({"trainer": {"_target_": f"{T}.Settings", "lr": 1.0, "stpes": 3}})
    assert msg.startswith("trainer.stpes: unknown key")
    assert 'did you mean "steps"' in msg and "valid keys: lr, steps, mode, betas, name" in msg


def test_wrong_type_names_key_and_type():
    (msg,) = problems({"trainer": {"_target_": f"{T}.Settings", "lr": "fast"}})
    assert msg == "trainer.lr: expected a float, got 'fast' (str)"


def test_bool_is_not_an_int():
    (msg,) = problems({"t": {"_target_": f"{T}.Settings", "lr": 1.0, "steps": True}})
    assert "t.steps: expected an int" in msg


def test_literal_lists_choices():
    (msg,) = problems({"t": {"_target_": f"{T}.Settings", "lr": 1.0, "mode": "fsat"}})
    assert "['fast', 'slow']" in msg and 'did you mean "fast"' in msg


def test_union_with_a_literal_names_its_values():
    (msg,) = problems({"t": {"_target_": f"{T}.Settings", "lr": 1.0, "workers": "two"}})
    assert msg == "t.workers: expected int or one of auto, got 'two' (str)"


def test_tuple_length_and_items():
    errs = problems({"t": {"_target_": f"{T}.Settings", "lr": 1.0, "betas": [0.9]}})
    assert errs == ["t.betas: expected 2 items, got 1"]
    errs = problems({"t": {"_target_": f"{T}.Settings", "lr": 1.0, "betas": [0.9, "x"]}})
    assert errs == ["t.betas[1]: expected a float, got 'x' (str)"]


def test_missing_required_and_missing_value():
    errs = problems({"t": {"_target_": f"{T}.Settings"}, "u": {"_target_": f"{T}.Settings", "lr": "???"}})
    assert "t.lr: missing required key for tests.config.test_validate.Settings" in errs
    assert any(e.startswith("u.lr: missing value") for e in errs)


def test_partial_nodes_may_leave_runtime_arguments_out():
    validate({"t": {"_target_": f"{T}.Settings", "_partial_": True}})


def test_data_path_must_exist_and_says_how(tmp_path):
    errs = problems({"env": {"_target_": f"{T}.load", "path": str(tmp_path / "nope.jsonl")}})
    assert errs == [f"env.path: GSM8K jsonl not found at '{tmp_path / 'nope.jsonl'}'. "
                    "download it to data/gsm8k.jsonl"]
    (tmp_path / "ok.jsonl").write_text("{}\n")
    validate({"env": {"_target_": f"{T}.load", "path": str(tmp_path / "ok.jsonl")}})


def test_unimportable_target():
    (msg,) = problems({"x": {"_target_": "rlx.no_such_module.Thing"}})
    assert msg.startswith("x._target_: cannot import 'rlx.no_such_module.Thing'")


def test_schema_for_top_level_scalars():
    errs = problems({"lr": "x"}, schema=Settings)
    assert errs == ["lr: expected a float, got 'x' (str)"]


def test_all_problems_reported_together():
    errs = problems({"a": {"_target_": f"{T}.Settings", "lr": "x", "steps": "y", "mode": "z"}})
    assert len(errs) == 3


def load_optional(path: DataPath("vocab file", how="make one with tools/vocab.py") | None = None):
    return path


def test_optional_data_path_reports_the_missing_file(tmp_path):
    validate({"x": {"_target_": f"{T}.load_optional", "path": None}})
    (msg,) = problems({"x": {"_target_": f"{T}.load_optional", "path": str(tmp_path / "v.txt")}})
    assert msg == f"x.path: vocab file not found at '{tmp_path / 'v.txt'}'. make one with tools/vocab.py"


def test_did_you_mean_prefers_fewest_edits():
    from rlx.config.validate import did_you_mean

    assert did_you_mean("gpro", ["gae", "gigpo", "grpo", "hgpo"]) == ' (did you mean "grpo"?)'
    assert did_you_mean("xyz", ["grpo"]) == ""
