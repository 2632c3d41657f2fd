"""Per-step prompts for agents and action parsing, in the style of the reference agent trainers.

Each policy step sees one user message: a role line, the task, for later steps how many steps
were taken plus the last `history_length` (observation, action) pairs, the current
observation, the admissible actions when the environment lists them, and the instruction to
reason inside <think></think> and answer with one action inside <action></action>
(verl-agent's GiGPO prompts, arXiv 2505.10978; paraphrased, not copied).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rlx.envs.text_env import Observation

ACTION_RE = re.compile(r"<action>(.*?)</action>", re.DOTALL | re.IGNORECASE)
THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class ParsedAction:
    action: str     # the command sent to the environment ("" when nothing could be parsed)
    valid: bool     # the output followed the format (think and action tags present)


def parse_action(text: str, require_think: bool = True) -> ParsedAction:
    """The text of the first <action>...</action>, stripped and lowercased.

    Invalid (for the invalid-action penalty) when the action tags are missing or, with
    `require_think`, the <think>...</think> block is missing. Validity does not check that the
    action is admissible: the environment reports that in `Step.action_valid`.
    """
    match = ACTION_RE.search(text)
    action = match.group(1).strip().lower() if match else ""
    valid = bool(match) and bool(action) and (not require_think or bool(THINK_RE.search(text)))
    return ParsedAction(action=action, valid=valid)


def observation_lines(observation: Observation) -> list[str]:
    """The current observation and, when the environment lists them, the admissible actions."""
    lines = [f"Your current observation is: {observation.text}"]
    if observation.admissible is not None:
        lines.append("Your admissible actions of the current situation are: ["
                     + ", ".join(f"'{a}'" for a in observation.admissible) + "].")
    return lines


def step_messages(
    *,
    role: str,
    instruction: str,
    observation: Observation,
    history: Sequence[tuple[str, str]],
    step_index: int,
    history_length: int,
    require_think: bool = True,
) -> list[dict[str, str]]:
    """The chat messages for one policy step.

    history: the (observation text, action) pairs of all earlier steps of the episode; only
    the last `history_length` are shown.
    """
    parts = [role, f"Your task is: {instruction}"]
    shown = list(history)[-history_length:] if history_length > 0 else []
    if step_index > 0:
        parts.append(f"Prior to this step, you have already taken {step_index} step(s)."
                     + (f" Below are the most recent {len(shown)} observations and the actions you "
                        "took in response:" if shown else ""))
        first = step_index - len(shown) + 1
        parts += [f"[Observation {first + i}: '{obs}', Action {first + i}: '{act}']"
                  for i, (obs, act) in enumerate(shown)]
    parts += observation_lines(observation)
    how = ("First reason step by step about the current situation inside <think> </think> tags. "
           if require_think else "")
    parts.append(how + "Then choose exactly one action for the current step and present it "
                 "inside <action> </action> tags.")
    return [{"role": "user", "content": "\n".join(parts)}]


def history_lines(history: Sequence[tuple[str, str]], step_index: int, history_length: int) -> list[str]:
    """The "already taken N steps" line and the last `history_length` (observation, action)
    pairs, as `step_messages` writes them (empty at the first step)."""
    if step_index == 0:
        return []
    shown = list(history)[-history_length:] if history_length > 0 else []
    lines = [f"Prior to this step, you have already taken {step_index} step(s)."
             + (f" Below are the most recent {len(shown)} observations and the actions you "
                "took in response:" if shown else "")]
    first = step_index - len(shown) + 1
    return lines + [f"[Observation {first + i}: '{obs}', Action {first + i}: '{act}']"
                    for i, (obs, act) in enumerate(shown)]
