"""`rlx.config.preflight`: cheap components are built (or their `preflight` hook called) before a
run directory exists, so their own checks print as `invalid config` naming the key."""

from dataclasses import dataclass
from typing import Annotated

import pytest

from rlx.config.preflight import preflight
from rlx.config.types import Range
from rlx.config.validate import ConfigError, validate

T = "tests.config.test_preflight"
BUILT: list[str] = []


@dataclass
class Settings:
    batch: int = 4
    minibatches: int = 1

    def __post_init__(self):
        BUILT.append("Settings")
        if self.batch % self.minibatches:
            raise ValueError(f"minibatches={self.minibatches} must divide batch={self.batch}")


@dataclass
class Outer:
    inner: Settings
    scale: float = 1.0


class Heavy:
    """Not a dataclass and no hook: never built by preflight (it could load a data set)."""

    def __init__(self, size: int = 1):
        BUILT.append("Heavy")
        raise ValueError("Heavy was built")


class Hooked:
    def __init__(self, path: str, inner=None):
        raise AssertionError("the hook, not the constructor, runs in preflight")

    @classmethod
    def preflight(cls, path: str, inner=None) -> None:
        BUILT.append(f"hook {path} {inner}")
        if path == "missing":
            raise FileNotFoundError("data file 'missing' not found; set path=...")


def engine(model, *, temperature: Annotated[float, Range(ge=0)] = 1.0,
           top_p: Annotated[float, Range(gt=0, le=1)] = 1.0,
           limit: Annotated[int, Range(ge=1)] | None = None):
    return model


def problems(config) -> list[str]:
    with pytest.raises(ConfigError) as info:
        preflight(config)
    return info.value.problems


def setup_function():
    BUILT.clear()


def test_dataclass_constructor_errors_name_the_key():
    assert problems({"trainer": {"_target_": f"{T}.Settings", "minibatches": 3}}) == [
        "trainer: minibatches=3 must divide batch=4"]
    preflight({"trainer": {"_target_": f"{T}.Settings", "minibatches": 2}})
    assert BUILT == ["Settings", "Settings"]


def test_nested_dataclasses_are_built_once_with_their_parent():
    node = {"outer": {"_target_": f"{T}.Outer", "inner": {"_target_": f"{T}.Settings", "minibatches": 3}}}
    (message,) = problems(node)
    assert message == "outer: minibatches=3 must divide batch=4"
    assert BUILT == ["Settings"]


def test_heavy_and_partial_nodes_are_not_built():
    preflight({"env": {"_target_": f"{T}.Heavy"},
               "later": {"_target_": f"{T}.Settings", "_partial_": True, "minibatches": 3},
               "outer": {"_target_": f"{T}.Outer", "inner": {"_target_": f"{T}.Heavy"}}})
    assert BUILT == []


def test_preflight_hooks_get_the_config_keys_and_nested_nodes_are_checked_too():
    nested = {"_target_": f"{T}.Settings", "minibatches": 3}
    assert problems({"env": {"_target_": f"{T}.Hooked", "path": "missing", "inner": nested}}) == [
        "env: data file 'missing' not found; set path=...",
        "env.inner: minibatches=3 must divide batch=4"]
    preflight({"env": {"_target_": f"{T}.Hooked", "path": "here"}})
    assert BUILT[-1] == "hook here None"


def test_range_annotations_name_key_and_bound():
    with pytest.raises(ConfigError) as info:
        validate({"rollout": {"_target_": f"{T}.engine", "_partial_": True, "temperature": -1,
                              "top_p": 0.0, "limit": 0}})
    assert info.value.problems == ["rollout.temperature: must be >= 0, got -1",
                                   "rollout.top_p: must be > 0, got 0.0",
                                   "rollout.limit: must be >= 1, got 0"]
    validate({"rollout": {"_target_": f"{T}.engine", "_partial_": True, "temperature": 0,
                          "top_p": 1.0, "limit": None}})


def test_run_settings_iterations_must_be_positive():
    from rlx.config.schema import RunSettings

    base = {"experiment_name": "x", "seed": 0, "resume": None, "device": "cpu", "runs_root": "r"}
    for bad in (0, -1):
        with pytest.raises(ConfigError) as info:
            validate({**base, "iterations": bad}, RunSettings)
        assert info.value.problems == [f"iterations: must be >= 1, got {bad}"]
    validate({**base, "iterations": 1}, RunSettings)
