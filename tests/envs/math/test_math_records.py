import json
import typing

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlx.config.types import MustExist
from rlx.envs.math import records
from rlx.envs.math.records import Gsm8kTasks, MathCompetitionTasks

GSM8K = [
    {"question": "Ann has 3 pens and buys 2 more. How many pens?", "answer": "3 + 2 = <<3+2=5>>5\n#### 5"},
    {"question": "A farm sells 1,200 eggs a day. How many in 2 days?", "answer": "1200 * 2\nSo 2,400\n#### 2,400"},
    {"question": "Bob owes 3 dollars and pays 10. Balance?", "answer": "3 - 10 = -7\n#### -7"},
]


def math_record(problem: str, solution: str, level: str, subject: str, **extra) -> dict:
    return {"problem": problem, "solution": solution, "level": level, "type": subject, **extra}


MATH = [
    math_record("Compute $\\frac{2}{4}$.", "It is $\\boxed{\\frac{1}{2}}$.", "Level 1", "Algebra"),
    math_record("Find the set.", "So $\\boxed{\\{1, \\{2\\}\\}}$.", "Level 3", "Counting & Probability"),
    math_record("Which level?", "$\\boxed{4}$", "Level ?", "Geometry"),
    math_record("MATH-500 style", "long ... \\boxed{9}", "Level 5", "Algebra", answer="9"),
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def write_parquet(path, rows):
    pq.write_table(pa.Table.from_pylist(rows), path)
    return str(path)


@pytest.mark.parametrize("write", [write_jsonl, write_parquet], ids=["jsonl", "parquet"])
def test_gsm8k_from_local_file(tmp_path, write):
    path = write(tmp_path / f"gsm8k.{'jsonl' if write is write_jsonl else 'parquet'}", GSM8K)
    tasks = Gsm8kTasks(path=path, split="test")()
    assert [t.uid for t in tasks] == ["gsm8k-test-00000", "gsm8k-test-00001", "gsm8k-test-00002"]
    assert [t.answer for t in tasks] == ["5", "2400", "-7"]
    assert [t.difficulty for t in tasks] == [1.0, 2.0, 1.0]
    assert tasks[1].prompt == GSM8K[1]["question"] and tasks[0].task_type == "gsm8k"
    assert len(Gsm8kTasks(path=path, limit=2)()) == 2


@pytest.mark.parametrize("write", [write_jsonl, write_parquet], ids=["jsonl", "parquet"])
def test_math_from_local_file(tmp_path, write):
    path = write(tmp_path / f"math.{'jsonl' if write is write_jsonl else 'parquet'}", MATH)
    tasks = MathCompetitionTasks(path=path)()
    assert [t.answer for t in tasks] == ["\\frac{1}{2}", "\\{1, \\{2\\}\\}", "4", "9"]
    assert [t.difficulty for t in tasks] == [1.0, 3.0, None, 5.0]
    assert [t.task_type for t in tasks] == ["Algebra", "Counting & Probability", "Geometry", "Algebra"]
    assert tasks[0].uid == "math-train-00000"


def test_math_filters_keep_record_uids(tmp_path):
    path = write_jsonl(tmp_path / "math.jsonl", MATH)
    tasks = MathCompetitionTasks(path=path, levels=[1, 5], subjects=["algebra"])()
    assert [t.uid for t in tasks] == ["math-train-00000", "math-train-00003"]


def test_math_directory_of_per_problem_json_files(tmp_path):
    (tmp_path / "train" / "algebra").mkdir(parents=True)
    for i, row in enumerate(MATH[:2]):
        (tmp_path / "train" / "algebra" / f"{i}.json").write_text(json.dumps(row))
    assert [t.answer for t in MathCompetitionTasks(path=str(tmp_path))()] == ["\\frac{1}{2}", "\\{1, \\{2\\}\\}"]


def test_missing_local_path_names_the_file_and_how_to_get_it(tmp_path):
    missing = r"GSM8K-format .* not found at .*nope\.jsonl.*RLX_GSM8K_PATH"
    with pytest.raises(FileNotFoundError, match=missing):
        Gsm8kTasks(path=str(tmp_path / "nope.jsonl"))()
    with pytest.raises(FileNotFoundError, match=r"no GSM8K-format .* path was set.*env\.source\.path"):
        Gsm8kTasks(path="???")()


def test_hub_id_while_offline_says_to_use_a_local_file(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr("datasets.load_dataset", offline)
    with pytest.raises(ConnectionError, match=r"Hub is unreachable.*Set the path to a local GSM8K"):
        Gsm8kTasks(path="openai/gsm8k")()


def test_gsm8k_record_without_final_answer_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"question": "q", "answer": "no marker"}])
    with pytest.raises(ValueError, match="####"):
        Gsm8kTasks(path=path)()


def test_unsupported_file_type(tmp_path):
    (tmp_path / "data.csv").write_text("question,answer\n")
    with pytest.raises(ValueError, match="not a .json, .jsonl or .parquet file"):
        Gsm8kTasks(path=str(tmp_path / "data.csv"))()


@pytest.mark.parametrize("source", [Gsm8kTasks, MathCompetitionTasks])
def test_path_is_a_data_path_that_allows_hub_ids(source):
    hint = typing.get_type_hints(source.__init__, include_extras=True)["path"]
    (marker,) = [m for m in hint.__metadata__ if isinstance(m, MustExist)]
    assert marker.allow_hub_id and marker.how


def test_math_level():
    assert [records.math_level(x) for x in ("Level 4", 2, "Level ?", None)] == [4.0, 2.0, None, None]


def test_looks_like_hub_id():
    assert records.looks_like_hub_id("openai/gsm8k")
    assert not records.looks_like_hub_id("./data/x.jsonl") and not records.looks_like_hub_id("/a/b")
    assert not records.looks_like_hub_id("gsm8k.jsonl")
