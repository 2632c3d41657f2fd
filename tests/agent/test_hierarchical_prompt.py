"""Prompts and parsing of the hierarchical agents (HiPER plan-execute steps, HiMAC blueprints)."""

import pytest

from rlx.agent.hierarchical_prompt import (blueprint_messages, blueprint_step_messages,
                                           parse_blueprint, parse_plan_execute,
                                           plan_execute_messages, planner_token_mask)
from rlx.agent.prompt import history_lines
from rlx.envs.text_env import Observation
from rlx.models.tiny import build_tiny


def test_parse_switch_with_subgoal_and_action():
    d = parse_plan_execute("<switch> switch </switch><subgoal> Find the mug </subgoal>"
                           "<think>it is in the cabinet</think><action>Go To Cabinet 1</action>")
    assert d.switch is True and d.subgoal == "Find the mug"
    assert d.action.action == "go to cabinet 1" and d.valid


def test_parse_keep_needs_no_subgoal_but_switch_does():
    keep = parse_plan_execute("<switch>KEEP</switch><think>t</think><action>open drawer 1</action>")
    assert keep.switch is False and keep.subgoal == "" and keep.valid
    bare = parse_plan_execute("<switch>SWITCH</switch><think>t</think><action>look</action>")
    assert bare.switch is True and not bare.valid  # a switch must name the new subgoal
    none = parse_plan_execute("<think>t</think><action>look</action>")
    assert none.switch is None and not none.valid and none.action.action == "look"
    odd = parse_plan_execute("<switch>maybe</switch><think>t</think><action>look</action>")
    assert odd.switch is None and not odd.valid
    no_think = parse_plan_execute("<switch>KEEP</switch><action>look</action>", require_think=False)
    assert no_think.valid
    assert not parse_plan_execute("<switch>KEEP</switch><action>look</action>").valid


def test_parse_blueprint():
    assert parse_blueprint("<plan>1. find mug 2. clean it</plan> extra") == ("1. find mug 2. clean it", True)
    assert parse_blueprint("  find the mug ") == ("find the mug", False)
    assert parse_blueprint("<plan> </plan>")[1] is False


def test_plan_execute_prompt_shows_subgoal_history_and_decision():
    obs = Observation("You are in a kitchen.", ("look", "go to sink 1"))
    (first,) = plan_execute_messages(role="R", instruction="put a mug in the sink", observation=obs,
                                     history=[], step_index=0, history_length=2, subgoal="")
    text = first["content"]
    assert text.startswith("R\nYour task is: put a mug in the sink\nYou have no subgoal yet.")
    assert "<switch>SWITCH</switch>" in text and "<switch>KEEP</switch>" not in text
    assert "['look', 'go to sink 1']" in text and "<think> </think>" in text
    (later,) = plan_execute_messages(role="R", instruction="T", observation=Observation("obs c"),
                                     history=[("obs a", "act a"), ("obs b", "act b")], step_index=2,
                                     history_length=1, subgoal="find the mug",
                                     require_think=False)
    text = later["content"]
    assert "Your current subgoal is: find the mug" in text and "<switch>KEEP</switch>" in text
    assert "[Observation 2: 'obs b', Action 2: 'act b']" in text and "obs a" not in text
    assert "<think>" not in text


def test_blueprint_prompts():
    (plan,) = blueprint_messages(role="R", instruction="T", observation=Observation("o"))
    assert "<plan> </plan>" in plan["content"] and "Your current observation is: o" in plan["content"]
    (step,) = blueprint_step_messages(role="R", instruction="T", blueprint="1. a 2. b",
                                      observation=Observation("o"), history=[], step_index=0,
                                      history_length=2)
    assert "Your plan is: 1. a 2. b" in step["content"] and "<action> </action>" in step["content"]


def test_history_lines_match_the_flat_prompt():
    assert history_lines([], 0, 2) == []
    assert history_lines([("a", "x"), ("b", "y")], 2, 1) == [
        "Prior to this step, you have already taken 2 step(s). Below are the most recent 1 "
        "observations and the actions you took in response:", "[Observation 2: 'b', Action 2: 'y']"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return build_tiny(cache_dir=str(tmp_path_factory.mktemp("cache"))).tokenizer


def test_planner_token_mask_covers_exactly_the_switch_and_subgoal_spans(tokenizer):
    text = "<switch>SWITCH</switch><subgoal>find 7</subgoal><think>9</think><action>go</action>"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    mask = planner_token_mask(tokenizer, ids)
    planned = tokenizer.decode([i for i, m in zip(ids, mask) if m])
    rest = tokenizer.decode([i for i, m in zip(ids, mask) if not m])
    assert planned.startswith("<switch>SWITCH</switch><subgoal>find 7</subgoal>")
    assert rest.endswith("<think>9</think><action>go</action>")
    assert planned + rest == text  # the planner span is a prefix here, nothing is lost
    assert not any(planner_token_mask(tokenizer, tokenizer("<action>go</action>",
                                                           add_special_tokens=False)["input_ids"]))
