"""Task sources that read GSM8K- and MATH-format records from local files (or the hub).

`path` is a local .json / .jsonl / .parquet file, a directory of such files (the original
MATH release is one .json per problem), or a hub id ("owner/name") when online. Files are
read with `datasets` (`load_dataset("json" | "parquet", data_files=...)`), which works
offline. A hub id while offline raises `ConnectionError` telling the user to point `path`
at a local file instead.
"""

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlx.config.types import DataPath
from rlx.envs.base import Task
from rlx.envs.math.answers import last_boxed, normalize_answer

FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}
GSM8K_WHAT = "GSM8K-format json/jsonl/parquet"
GSM8K_HOW = (
    'Records need "question" and "answer" ending in "#### <final answer>". Save GSM8K '
    "(hub id openai/gsm8k, config main) as jsonl or parquet, then export "
    "RLX_GSM8K_PATH=/data/gsm8k/train.jsonl or set env.source.path=/data/gsm8k/train.jsonl."
)
MATH_WHAT = "MATH-format json/jsonl/parquet (or a directory of them)"
MATH_HOW = (
    'Records need "problem" and "solution" with a \\boxed{} answer (optional "level", "type", '
    '"answer"). Save MATH (e.g. hub id EleutherAI/hendrycks_math) as jsonl or parquet, or use '
    "the original release's directory, then export RLX_MATH_PATH=/data/math/train.jsonl or set "
    "env.source.path=..."
)


def looks_like_hub_id(path: str) -> bool:
    """"owner/name" (one slash, not a relative or absolute local path)."""
    return path.count("/") == 1 and not path.startswith((".", "/", "~"))


def _data_files(root: Path) -> list[str]:
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix in FILE_BUILDERS)
    if not files:
        raise FileNotFoundError(f"no .json/.jsonl/.parquet files under '{root}'")
    suffixes = {FILE_BUILDERS.get(p.suffix) for p in files}
    if None in suffixes:
        raise ValueError(f"'{root}' is not a .json, .jsonl or .parquet file")
    if len(suffixes) > 1:
        raise ValueError(f"'{root}' mixes json and parquet files; keep one format")
    return [str(p) for p in files]


def load_records(path: str, split: str, hub_config: str | None, what: str, how: str) -> list[dict[str, Any]]:
    """All records of a local file/directory, or of `split` of a hub dataset.

    Raises FileNotFoundError (local path missing, with `what` and `how` in the message) or
    ConnectionError (hub id given but the hub cannot be reached).
    """
    import datasets  # imported lazily: ~0.5 s

    local = Path(os.path.expanduser(path))
    if local.exists():
        files = _data_files(local)
        builder = FILE_BUILDERS[Path(files[0]).suffix]
        return datasets.load_dataset(builder, data_files=files, split="train").to_list()
    if path in ("", "???"):
        raise FileNotFoundError(f"no {what} path was set. {how}")
    if not looks_like_hub_id(path):
        raise FileNotFoundError(f"{what} not found at '{path}'. {how}")
    try:
        return datasets.load_dataset(path, hub_config, split=split).to_list()
    except ConnectionError as err:
        raise ConnectionError(
            f"'{path}' is not a local file, and the Hugging Face Hub is unreachable ({err}). "
            f"Set the path to a local {what} file instead. {how}"
        ) from err


def gsm8k_final_answer(solution: str) -> str:
    """The final answer after the last "####" of a GSM8K solution, without thousands commas."""
    if "####" not in solution:
        raise ValueError(f"GSM8K answer has no '#### <final>' line: {solution[-80:]!r}")
    return normalize_answer(solution.rsplit("####", 1)[1])


class Gsm8kTasks:
    """A task source (call it for the tasks): GSM8K-format records {"question", "answer"}.

    `split` picks the split of a hub dataset and names the uids ("gsm8k-train-00042"; the
    number is the record's index in the file). `difficulty` is the number of solution lines
    before "####" (the reasoning steps). `limit` keeps the first N records.
    """

    def __init__(
        self,
        path: DataPath(GSM8K_WHAT, how=GSM8K_HOW, allow_hub_id=True),
        split: str = "train",
        hub_config: str | None = "main",
        limit: int | None = None,
    ):
        self.path, self.split, self.hub_config, self.limit = path, split, hub_config, limit

    def __call__(self) -> list[Task]:
        records = load_records(self.path, self.split, self.hub_config, GSM8K_WHAT, GSM8K_HOW)
        tasks = []
        for i, record in enumerate(records[: self.limit]):
            solution = str(record["answer"])
            steps = [line for line in solution.rsplit("####", 1)[0].splitlines() if line.strip()]
            tasks.append(
                Task(
                    uid=f"gsm8k-{self.split}-{i:05d}",
                    prompt=str(record["question"]).strip(),
                    answer=gsm8k_final_answer(solution),
                    task_type="gsm8k",
                    difficulty=float(len(steps)),
                )
            )
        return tasks


def math_level(level: Any) -> float | None:
    """"Level 3" / 3 -> 3.0; anything else ("Level ?", None) -> None."""
    match = re.search(r"\d+", str(level)) if level is not None else None
    return float(match.group()) if match else None


class MathCompetitionTasks:
    r"""A task source (call it for the tasks): MATH-format records (Hendrycks et al., arXiv 2103.03874).

    Each record has "problem" and "solution"; the reference answer is the record's "answer"
    field when present (MATH-500 style), else the last `\boxed{...}` of the solution (nested
    braces kept). `task_type` is the subject ("type", e.g. "Algebra"), `difficulty` the level
    (1-5). `levels` / `subjects` keep only those (subjects compared case-insensitively);
    `limit` keeps the first N after filtering. uids are "math-<split>-<record index>".
    """

    def __init__(
        self,
        path: DataPath(MATH_WHAT, how=MATH_HOW, allow_hub_id=True),
        split: str = "train",
        hub_config: str | None = None,
        levels: Sequence[int] | None = None,
        subjects: Sequence[str] | None = None,
        limit: int | None = None,
    ):
        self.path, self.split, self.hub_config, self.limit = path, split, hub_config, limit
        self.levels = None if levels is None else {float(level) for level in levels}
        self.subjects = None if subjects is None else {s.lower() for s in subjects}

    def __call__(self) -> list[Task]:
        records = load_records(self.path, self.split, self.hub_config, MATH_WHAT, MATH_HOW)
        tasks = []
        for i, record in enumerate(records):
            subject = str(record.get("type") or "math")
            level = math_level(record.get("level"))
            if self.levels is not None and level not in self.levels:
                continue
            if self.subjects is not None and subject.lower() not in self.subjects:
                continue
            answer = record.get("answer") or last_boxed(str(record["solution"]))
            if not answer:
                raise ValueError(f"record {i} of '{self.path}': no \"answer\" and no \\boxed{{}} in the solution")
            prompt = str(record["problem"]).strip()
            tasks.append(Task(f"math-{self.split}-{i:05d}", prompt, str(answer), subject, level))
        return tasks[: self.limit]
