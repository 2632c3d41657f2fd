"""Math environment: GSM8K / MATH style questions, final answers checked with math-verify.

Select it with `env=math` (generated tasks, offline), `env=arithmetic`, `env=gsm8k` or
`env=math_competition` (local files).
"""

from rlx.envs.math.answers import extract_answer, last_boxed, normalize_answer
from rlx.envs.math.env import MathEnv
from rlx.envs.math.generated import GeneratedTasks
from rlx.envs.math.grading import answers_match, grade
from rlx.envs.math.records import Gsm8kTasks, MathCompetitionTasks

__all__ = [
    "GeneratedTasks",
    "Gsm8kTasks",
    "MathCompetitionTasks",
    "MathEnv",
    "answers_match",
    "extract_answer",
    "grade",
    "last_boxed",
    "normalize_answer",
]
