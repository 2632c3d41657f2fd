from rlx.agent.prompt import parse_action, step_messages
from rlx.envs.text_env import Observation


def test_parse_action_takes_first_action_lowercased():
    p = parse_action("<think>go to the fridge</think> <action> Go To Fridge 1 </action><action>x</action>")
    assert p.action == "go to fridge 1" and p.valid


def test_parse_action_invalid_without_tags():
    assert parse_action("go to fridge 1") == parse_action("go to fridge 1")
    p = parse_action("go to fridge 1")
    assert p.action == "" and not p.valid
    p = parse_action("<action>open drawer 1</action>")  # no think block
    assert p.action == "open drawer 1" and not p.valid
    assert parse_action("<action>open drawer 1</action>", require_think=False).valid
    assert not parse_action("<think>hm</think><action>  </action>").valid


def test_first_step_prompt_has_task_observation_and_admissible():
    (msg,) = step_messages(role="You are an expert agent.", instruction="put a mug in the sink",
                           observation=Observation("You are in a kitchen.", ("look", "go to sink 1")),
                           history=[], step_index=0, history_length=2)
    text = msg["content"]
    assert msg["role"] == "user"
    assert text.startswith("You are an expert agent.\nYour task is: put a mug in the sink")
    assert "already taken" not in text
    assert "Your current observation is: You are in a kitchen." in text
    assert "['look', 'go to sink 1']" in text and "<action> </action>" in text


def test_later_step_shows_only_recent_history_with_step_numbers():
    history = [("obs a", "act a"), ("obs b", "act b"), ("obs c", "act c")]
    (msg,) = step_messages(role="R", instruction="T", observation=Observation("obs d"),
                           history=history, step_index=3, history_length=2)
    text = msg["content"]
    assert "already taken 3 step(s)" in text
    assert "obs a" not in text
    assert "[Observation 2: 'obs b', Action 2: 'act b']" in text
    assert "[Observation 3: 'obs c', Action 3: 'act c']" in text
    assert "admissible" not in text
