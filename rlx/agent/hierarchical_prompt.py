"""Prompts and parsing for hierarchical agents: HiPER's plan-execute steps and HiMAC's blueprints.

HiPER (arXiv 2602.16165; the authors' reference marks the decision with <switch>KEEP|SWITCH
</switch>, the subgoal with <subgoal></subgoal> and the action with <action></action>): every
step the agent first decides whether to keep its current subgoal or switch, writes the new
subgoal on a switch, then reasons and acts under the subgoal. The prompt is the flat agent's
(`rlx.agent.prompt`: role, task, recent history, observation, admissible actions) plus the
current subgoal and the decision instructions. Wording is ours.

HiMAC (arXiv 2603.00977, abstract only): the planner writes a blueprint, a short plan of
subgoals inside <plan></plan>, once per episode before acting; every execution step then shows
the blueprint and asks for one action that follows it. Wording and tags are ours.

Planner tokens: the response tokens whose text overlaps the <switch>...</switch> or
<subgoal>...</subgoal> spans (tags included; the first of each), found on the per-token
decoded pieces so that no re-tokenisation is needed (`planner_token_mask`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rlx.agent.prompt import ParsedAction, history_lines, observation_lines, parse_action
from rlx.envs.text_env import Observation

SWITCH_RE = re.compile(r"<switch>(.*?)</switch>", re.DOTALL | re.IGNORECASE)
SUBGOAL_RE = re.compile(r"<subgoal>(.*?)</subgoal>", re.DOTALL | re.IGNORECASE)
PLAN_RE = re.compile(r"<plan>(.*?)</plan>", re.DOTALL | re.IGNORECASE)
PLANNER_SPANS = (SWITCH_RE, SUBGOAL_RE)


@dataclass(frozen=True)
class PlanExecuteDecision:
    switch: bool | None   # True: SWITCH, False: KEEP, None: no (or an unknown) decision
    subgoal: str          # the subgoal written ("" when none)
    action: ParsedAction  # the executor's action

    @property
    def valid(self) -> bool:
        """Format ok: a decision, a subgoal when switching, and a valid action."""
        return self.switch is not None and (not self.switch or bool(self.subgoal)) and self.action.valid


def parse_plan_execute(text: str, require_think: bool = True) -> PlanExecuteDecision:
    """The first <switch> decision (KEEP or SWITCH, any case), the first <subgoal> text and the
    action (`parse_action`)."""
    decision = SWITCH_RE.search(text)
    word = decision.group(1).strip().upper() if decision else ""
    switch = {"SWITCH": True, "KEEP": False}.get(word)
    subgoal = SUBGOAL_RE.search(text)
    return PlanExecuteDecision(switch=switch, subgoal=subgoal.group(1).strip() if subgoal else "",
                               action=parse_action(text, require_think))


def parse_blueprint(text: str) -> tuple[str, bool]:
    """(the plan inside the first <plan></plan>, valid); without the tags the whole text
    (stripped) is the plan and it is invalid."""
    match = PLAN_RE.search(text)
    if match and match.group(1).strip():
        return match.group(1).strip(), True
    return text.strip(), False


def plan_execute_messages(*, role: str, instruction: str, observation: Observation,
                          history: Sequence[tuple[str, str]], step_index: int, history_length: int,
                          subgoal: str, require_think: bool = True) -> list[dict[str, str]]:
    """One HiPER step: the flat prompt, the current subgoal and the keep-or-switch instruction."""
    parts = [role, f"Your task is: {instruction}",
             *history_lines(history, step_index, history_length)]
    parts.append(f"Your current subgoal is: {subgoal}" if subgoal else "You have no subgoal yet.")
    parts += observation_lines(observation)
    decide = ("First decide whether to keep your current subgoal or switch to a new one: write "
              "<switch>KEEP</switch> to keep it, or <switch>SWITCH</switch> followed by the new "
              "subgoal inside <subgoal> </subgoal> tags." if subgoal else
              "First write <switch>SWITCH</switch> followed by your first subgoal inside "
              "<subgoal> </subgoal> tags.")
    how = (" Then reason step by step about the current situation inside <think> </think> tags."
           if require_think else "")
    parts.append(decide + how + " Then choose exactly one action that works toward the subgoal "
                 "and present it inside <action> </action> tags.")
    return [{"role": "user", "content": "\n".join(parts)}]


def blueprint_messages(*, role: str, instruction: str, observation: Observation) -> list[dict[str, str]]:
    """HiMAC's macro step: write the blueprint for the whole task before acting."""
    parts = [role, f"Your task is: {instruction}", *observation_lines(observation),
             "Before acting, write a plan for the whole task: a short numbered list of subgoals "
             "that together solve it, inside <plan> </plan> tags. Do not choose an action yet."]
    return [{"role": "user", "content": "\n".join(parts)}]


def blueprint_step_messages(*, role: str, instruction: str, blueprint: str, observation: Observation,
                            history: Sequence[tuple[str, str]], step_index: int, history_length: int,
                            require_think: bool = True) -> list[dict[str, str]]:
    """HiMAC's micro step: the flat prompt with the blueprint, asking for one action that follows it."""
    parts = [role, f"Your task is: {instruction}", f"Your plan is: {blueprint}",
             *history_lines(history, step_index, history_length), *observation_lines(observation)]
    how = ("First reason step by step about which subgoal of your plan comes next inside <think> "
           "</think> tags. " if require_think else "")
    parts.append(how + "Then choose exactly one action that follows your plan and present it "
                 "inside <action> </action> tags.")
    return [{"role": "user", "content": "\n".join(parts)}]


def char_spans(text: str, patterns: Sequence[re.Pattern] = PLANNER_SPANS) -> list[tuple[int, int]]:
    """[start, end) of the first match of each pattern in `text` (tags included)."""
    return [(m.start(), m.end()) for m in (p.search(text) for p in patterns) if m]


def planner_token_mask(tokenizer, response_ids: Sequence[int],
                       patterns: Sequence[re.Pattern] = PLANNER_SPANS) -> list[bool]:
    """For each response token, whether its text overlaps a planner span (`char_spans`).

    The text searched is the concatenation of the tokens decoded one by one, so token j covers
    exactly [offset_j, offset_j + len(piece_j)) of it (a character split over two byte-level
    tokens decodes to replacement characters, which never match a tag)."""
    pieces = tokenizer.batch_decode([[int(i)] for i in response_ids], skip_special_tokens=False,
                                    clean_up_tokenization_spaces=False)
    spans = char_spans("".join(pieces), patterns)
    mask, start = [], 0
    for piece in pieces:
        end = start + len(piece)
        mask.append(any(start < b and end > a for a, b in spans))
        start = end
    return mask
