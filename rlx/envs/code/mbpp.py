"""MBPP (Austin et al. 2021, arXiv 2108.07732) and MBPP-format records from local files.

A record has "text" (or "prompt", as in the sanitized release), "code" (a reference solution),
"test_list" (assert statements), optionally "task_id", "test_setup_code" (or "test_imports", a
list) and "challenge_test_list". Files: .jsonl (one record per line), .json (a list of records),
or .parquet (read with `datasets`). Each assert is one test unit; the function under test is the
first non-builtin function the first assert calls.

The prompt follows the MBPP paper: the description, then "Your code should pass these tests:" and
the first `tests_in_prompt` asserts (they name the function and show the call format).
"""

from __future__ import annotations

import ast
import builtins
import json
import os
from pathlib import Path
from typing import Any, Literal

from rlx.config.types import DataPath
from rlx.envs.code.problems import CodeProblem

MBPP_WHAT = "MBPP-format .jsonl/.json/.parquet"
MBPP_HOW = (
    'Records need "text" (or "prompt"), "code" and "test_list" (assert strings), optionally "task_id" '
    'and "test_setup_code". Save MBPP (hub id google-research-datasets/mbpp, e.g. the "full" config, '
    "or the original mbpp.jsonl) to a local file, then export RLX_MBPP_PATH=/data/mbpp/mbpp.jsonl "
    "or set env.source.path=..."
)
# The official split of the 974 MBPP problems by task_id (Austin et al. 2021, section 2.1).
SPLIT_IDS = {"prompt": range(1, 11), "test": range(11, 511), "validation": range(511, 601), "train": range(601, 975)}


def read_records(path: str) -> list[dict[str, Any]]:
    """Records of a local .jsonl, .json (a list) or .parquet file."""
    file = Path(os.path.expanduser(path))
    if not file.is_file():
        raise FileNotFoundError(f"{MBPP_WHAT} not found at '{path}'. {MBPP_HOW}")
    if file.suffix == ".jsonl":
        return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if file.suffix == ".json":
        records = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(records, list):
            raise ValueError(f"'{path}': expected a JSON list of records")
        return records
    if file.suffix == ".parquet":
        import datasets  # imported lazily: ~0.5 s

        return datasets.load_dataset("parquet", data_files=str(file), split="train").to_list()
    raise ValueError(f"'{path}' is not a .jsonl, .json or .parquet file")


def called_function(test: str) -> str:
    """The first non-builtin function that an assert calls by name (the function under test)."""
    for node in ast.walk(ast.parse(test)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not hasattr(builtins, node.func.id):
            return node.func.id
    raise ValueError(f"cannot tell which function this test calls: {test!r}")


def mbpp_problem(record: dict[str, Any], index: int, tests_in_prompt: int, challenge_tests: bool) -> CodeProblem:
    """A `CodeProblem` from one MBPP-format record (`index`: its position, the uid without a task_id)."""
    text = str(record.get("text") or record.get("prompt") or "").strip()
    tests = [t.strip() for t in record["test_list"]]
    if challenge_tests:
        tests += [t.strip() for t in record.get("challenge_test_list") or []]
    if not text or not tests:
        raise ValueError(f"MBPP record {index} needs a description and a non-empty test_list")
    setup = record.get("test_setup_code") or record.get("test_imports") or ""
    setup = "\n".join(setup) if isinstance(setup, list) else str(setup)
    entry_point = called_function(tests[0])
    shown = tests[:tests_in_prompt]
    prompt = (f"{text}\nYour code should pass these tests:\n\n" + "\n".join(shown) if shown
              else f"{text}\nName the function `{entry_point}`.")
    return CodeProblem(
        uid=f"mbpp-{record.get('task_id', index)}",
        prompt=prompt,
        entry_point=entry_point,
        tests=tuple(tests),
        test_setup=setup,
        reference=str(record.get("code", "")),
        task_type="mbpp",
    )


class MbppTasks:
    """A problem source (call it for the problems): MBPP-format records from a local file.

    path: the file (see the module docstring for the formats).
    split: "all" records, or one official MBPP split by task_id (prompt 1-10, test 11-510,
        validation 511-600, train 601-974); needs "task_id" in the records.
    tests_in_prompt: asserts shown in the prompt (0: only the function name is given).
    challenge_tests: also run the "challenge_test_list" asserts where present.
    limit: keep the first N (after the split).
    """

    def __init__(
        self,
        path: DataPath(MBPP_WHAT, how=MBPP_HOW),
        split: Literal["all", "train", "validation", "test", "prompt"] = "all",
        tests_in_prompt: int = 1,
        challenge_tests: bool = False,
        limit: int | None = None,
    ):
        if tests_in_prompt < 0:
            raise ValueError(f"tests_in_prompt must be >= 0, got {tests_in_prompt}")
        self.path, self.split, self.limit = path, split, limit
        self.tests_in_prompt, self.challenge_tests = tests_in_prompt, challenge_tests

    def __call__(self) -> list[CodeProblem]:
        records = list(enumerate(read_records(self.path)))
        if self.split != "all":
            if any("task_id" not in r for _, r in records):
                raise ValueError(f"split={self.split!r} needs a task_id in every record of '{self.path}'")
            records = [(i, r) for i, r in records if int(r["task_id"]) in SPLIT_IDS[self.split]]
        problems = [mbpp_problem(r, i, self.tests_in_prompt, self.challenge_tests) for i, r in records]
        return problems[: self.limit]
